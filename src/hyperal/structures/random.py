"""Random structures: atoms and sub-components inserted at random into a cell
sized by the interaction range only (docs/method.md §1.4).

The cubic cell edge is L = 2·r_cut / x, x = D/L picked by a sphere-of-influence
criterion (:mod:`hyperal.structures.soi`), not by a lattice parameter. The
number of atoms follows from a density drawn in a range; atoms are placed one
by one at uniformly random positions (random sequential addition), each
rejected if closer than the minimum distance of its species pair to any atom
already placed (periodic images included). Sub-components (a molecule, a metal
cluster) go in first, as rigid units at random positions and orientations.

Nothing loops forever: each atom has ``max_attempts`` tries, each structure
``max_restarts`` fresh starts, and a density that cannot hold the minimum
distances at all (packing fraction above random close packing, 0.64) is
refused before any attempt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers, covalent_radii
from ase.units import _amu
from scipy.spatial.transform import Rotation

from hyperal.structures.composition import composition_counts
from hyperal.structures.limits import check_structures, too_many_atoms
from hyperal.structures.soi import cell_edge
from hyperal.utils import ParameterError, RngLike, as_rng

#: Random close packing fraction of equal spheres: the densest a random
#: sequential placement can hope for.
RANDOM_CLOSE_PACKING = 0.64
#: Above the densest element's density (osmium, 22.6 g/cm³), with margin: a
#: structure too large for the atom limit at a density up to this blames the
#: cell (the cutoff), above it the density.
DENSEST_G_CM3 = 30.0

#: amu/Å³ -> g/cm³
G_CM3_PER_AMU_A3 = _amu * 1e3 / 1e-24


class PlacementError(RuntimeError):
    """Random placement did not fit the atoms within the attempt limits."""


def minimum_distance(a: str, b: str, factor: float = 0.7) -> float:
    """Default minimum distance of a species pair (Å): ``factor`` × the sum
    of their covalent radii (Cordero et al., Dalton Trans. 2832 (2008), as in
    ``ase.data.covalent_radii``)."""
    return factor * (
        covalent_radii[atomic_numbers[a]] + covalent_radii[atomic_numbers[b]]
    )


def _pair_table(symbols, min_distance, factor):
    table = {}
    for a in symbols:
        for b in symbols:
            if isinstance(min_distance, Mapping):
                value = min_distance.get((a, b), min_distance.get((b, a)))
                if value is None:
                    value = minimum_distance(a, b, factor)
            elif min_distance is not None:
                value = float(min_distance)
            else:
                value = minimum_distance(a, b, factor)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"min_distance for {a}-{b} must be >= 0, got {value}")
            table[(a, b)] = value
    return table


def _periodic_distances(points: np.ndarray, point: np.ndarray, edge: float):
    delta = points - point
    delta -= edge * np.round(delta / edge)
    return np.sqrt((delta * delta).sum(axis=1))


def random_structures(
    n: int,
    composition: Mapping[str, float],
    *,
    cutoff_A: float,
    criterion: str | float = "inner_half_unique",
    density_g_cm3: tuple[float, float] | None = None,
    n_atoms: int | tuple[int, int] | None = None,
    components: Sequence[Atoms] = (),
    min_distance: float | Mapping[tuple[str, str], float] | None = None,
    min_distance_factor: float = 0.7,
    max_attempts: int = 1000,
    max_restarts: int = 20,
    rng: RngLike = None,
) -> list[Atoms]:
    """``n`` random periodic structures in a cubic cell sized by the cutoff.

    Parameters
    ----------
    n : int
        Number of structures.
    composition : mapping symbol -> fraction
        Atomic fractions of the single atoms (e.g. from
        :func:`~hyperal.structures.composition.sample_compositions`).
    cutoff_A : float
        Interaction range r_cut (Å) of the model the structures are for.
    criterion : str or float
        Sphere-of-influence operating point (name or x = D/L); the cell edge
        is L = 2·r_cut/x (:func:`hyperal.structures.soi.cell_edge`).
    density_g_cm3 : (low, high), optional
        Mass density range; each structure draws one and takes the atom count
        that fills the cell at it. Give this or ``n_atoms``.
    n_atoms : int or (low, high), optional
        Number of single atoms (uniform in the range).
    components : sequence of Atoms
        Rigid units inserted first, each once per structure, at a random
        position and orientation; their atoms count toward the density. A unit
        must fit in the cell: it is checked against other atoms, not against
        its own periodic images.
    min_distance : float, mapping (a, b) -> Å, or None
        Minimum interatomic distance; default per species pair
        ``min_distance_factor`` × the sum of covalent radii.
    max_attempts : int
        Tries per atom before a restart.
    max_restarts : int
        Fresh starts per structure before :class:`PlacementError`.
    rng : Generator, int or None

    Returns
    -------
    list of Atoms (cubic, periodic), ``info``: ``source="random"``,
    ``cell_edge_A``, ``x`` (criterion), ``cutoff_A``, ``density_g_cm3``.

    Raises
    ------
    ValueError
        Bad arguments, including a density whose minimum-distance spheres
        could not fit (packing fraction above 0.64).
    PlacementError
        The attempt limits were exhausted.
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n}")
    fractions = _fractions(composition)
    if (density_g_cm3 is None) == (n_atoms is None):
        raise ValueError("give exactly one of density_g_cm3 and n_atoms")
    _check_limits(n, cutoff_A, max_attempts, max_restarts)
    edge = cell_edge(cutoff_A, criterion)
    volume = edge**3
    components = [c.copy() for c in components]
    symbols = set(fractions)
    for unit in components:
        symbols |= set(unit.get_chemical_symbols())
    table = _pair_table(sorted(symbols), min_distance, min_distance_factor)
    size = _Size(fractions, components, volume, density_g_cm3, n_atoms)
    _check_fits(size, fractions, components, table, edge, cutoff_A)

    rng = as_rng(rng)
    out = []
    for _ in range(int(n)):
        singles = composition_counts(fractions, size.draw(rng))
        atoms = _place(
            edge, singles, components, table, max_attempts, max_restarts, rng
        )
        mass = atoms.get_masses().sum()
        atoms.info.update(
            source="random",
            cutoff_A=float(cutoff_A),
            x=float(2 * cutoff_A / edge),
            cell_edge_A=float(edge),
            density_g_cm3=float(mass / volume * G_CM3_PER_AMU_A3)
            if len(atoms)
            else 0.0,
            n_components=len(components),
        )
        out.append(atoms)
    return out


def _check_limits(n, cutoff_A, max_attempts, max_restarts) -> None:
    if not (math.isfinite(cutoff_A) and cutoff_A > 0):
        raise ParameterError("cutoff_A", f"must be a finite number > 0, got {cutoff_A}")
    check_structures(n, "n")
    for name, value in (("max_attempts", max_attempts), ("max_restarts", max_restarts)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value}")


def _fractions(composition: Mapping[str, float]) -> dict[str, float]:
    """The composition as checked fractions (chemical symbols, >= 0, not all 0)."""
    fractions = {str(k): float(v) for k, v in composition.items()}
    if not fractions:
        raise ValueError("composition is empty: name at least one species")
    for symbol, value in fractions.items():
        if symbol not in atomic_numbers:
            raise ValueError(f"composition: {symbol!r} is not a chemical symbol")
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"composition[{symbol!r}] must be >= 0, got {value}")
    if not sum(fractions.values()) > 0:
        raise ValueError("composition: fractions must have a positive sum")
    return fractions


class _Size:
    """How many free atoms a structure gets: from a density drawn in a range
    (less the components' mass), or a count drawn in a range."""

    def __init__(self, fractions, components, volume, density_g_cm3, n_atoms):
        self.key = "density_g_cm3" if density_g_cm3 is not None else "n_atoms"
        if density_g_cm3 is not None:
            lo, hi = (float(d) for d in density_g_cm3)
            if not (math.isfinite(lo) and 0 < lo <= hi and math.isfinite(hi)):
                raise ParameterError(
                    "density_g_cm3",
                    f"must be (low, high) with 0 < low <= high, got {density_g_cm3}",
                )
            total = sum(fractions.values())
            self.mean_mass = sum(
                f / total * atomic_masses[atomic_numbers[s]]
                for s, f in fractions.items()
            )
            self.unit_mass = sum(c.get_masses().sum() for c in components)
            self.volume = volume
            self.density = (lo, hi)
            self.worst = self.count(hi)
        else:
            bounds = (n_atoms, n_atoms) if np.ndim(n_atoms) == 0 else tuple(n_atoms)
            lo_n, hi_n = (int(b) for b in bounds)
            if not 0 <= lo_n <= hi_n:
                raise ParameterError(
                    "n_atoms", f"must be >= 0 (or a range low <= high), got {n_atoms}"
                )
            self.density = None
            self.atoms = (lo_n, hi_n)
            self.worst = hi_n

    def too_large(self, cutoff_A: float, edge: float, over: str) -> tuple[str, str]:
        """The key to blame for structures over the atom limit (``over``
        says by how much) and why: the count asked for, or — at a density a
        solid can have — the cell the cutoff makes."""
        if self.density is None:
            return self.key, over
        if self.density[1] > DENSEST_G_CM3:
            return self.key, f"up to {self.density[1]:g} g/cm³: {over}"
        return "cutoff_A", (
            f"{cutoff_A:g} Å makes a {edge:,.1f} Å cubic cell; at a density up "
            f"to {self.density[1]:g} g/cm³: {over}"
        )

    def count(self, rho: float) -> int:
        """Free atoms at density ``rho`` (g/cm³)."""
        free = (rho * self.volume / G_CM3_PER_AMU_A3 - self.unit_mass) / self.mean_mass
        return max(0, round(free))

    def draw(self, rng) -> int:
        """One structure's free atoms."""
        if self.density is not None:
            return self.count(float(rng.uniform(*self.density)))
        lo_n, hi_n = self.atoms
        return int(rng.integers(lo_n, hi_n + 1))


def _check_fits(
    size: _Size, fractions, components, table, edge: float, cutoff_A: float
) -> None:
    """Refuse structures too large to hold, or whose minimum-distance
    spheres (radius d_min/2) fill the cell above random close packing."""
    fixed = sum(len(unit) for unit in components)
    over = too_many_atoms(size.worst + fixed)
    if over is not None:
        raise ParameterError(*size.too_large(cutoff_A, edge, over))
    if size.worst + fixed == 0:
        raise ParameterError(size.key, "gives structures that hold no atom")
    counts = composition_counts(fractions, size.worst)
    spheres = [s for s, c in counts.items() for _ in range(c)]
    for unit in components:
        spheres += unit.get_chemical_symbols()
    packing = sum(math.pi / 6 * table[(s, s)] ** 3 for s in spheres) / edge**3
    if packing > RANDOM_CLOSE_PACKING:
        raise ParameterError(
            size.key,
            f"gives {len(spheres)} atoms, whose minimum distances fill "
            f"{packing:.2f} of the {edge:.2f} Å cell, above random close packing "
            f"({RANDOM_CLOSE_PACKING}); lower the density or the minimum distance",
        )


def _place(edge, singles, components, table, max_attempts, max_restarts, rng):
    order = [s for s, c in singles.items() for _ in range(c)]
    for _ in range(max_restarts):
        symbols: list[str] = []
        positions: list[np.ndarray] = []
        ok = True
        for unit in components:
            if not _insert(unit, symbols, positions, edge, table, max_attempts, rng):
                ok = False
                break
        if ok:
            for symbol in rng.permutation(order) if order else []:
                unit = Atoms(str(symbol), positions=[[0.0, 0.0, 0.0]])
                if not _insert(
                    unit, symbols, positions, edge, table, max_attempts, rng
                ):
                    ok = False
                    break
        if ok:
            atoms = Atoms(
                symbols,
                positions=np.array(positions).reshape(-1, 3),
                cell=[edge] * 3,
                pbc=True,
            )
            atoms.wrap()
            return atoms
    raise PlacementError(
        f"could not place {len(order)} atoms and {len(components)} components in a "
        f"{edge:.2f} Å cell with the minimum distances after {max_restarts} "
        f"restarts of {max_attempts} attempts per atom; lower the density or the "
        "minimum distance, or raise max_attempts"
    )


def _insert(unit, symbols, positions, edge, table, max_attempts, rng) -> bool:
    local = unit.positions - unit.positions.mean(axis=0)
    unit_symbols = unit.get_chemical_symbols()
    placed = np.array(positions).reshape(-1, 3)
    for _ in range(max_attempts):
        rotation = (
            Rotation.random(random_state=rng).as_matrix()
            if len(unit) > 1
            else (np.eye(3))
        )
        trial = local @ rotation.T + rng.uniform(0.0, edge, size=3)
        fits = True
        if len(placed):
            for symbol, point in zip(unit_symbols, trial, strict=True):
                d = _periodic_distances(placed, point, edge)
                limits = np.array([table[(symbol, s)] for s in symbols])
                if (d < limits).any():
                    fits = False
                    break
        if fits:
            symbols.extend(unit_symbols)
            positions.extend(trial)
            return True
    return False
