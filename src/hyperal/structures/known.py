"""Known phases: a small prototype library (docs/method.md §1.1).

Metals bcc, fcc, hcp, omega; oxides rocksalt, fluorite (c-ZrO2), rutile and
monoclinic (baddeleyite, m-ZrO2). Every prototype is built by
``ase.spacegroup.crystal`` from its space group and Wyckoff positions, so each
atom's sublattice is known (``spacegroup_kinds``) and can be decorated with
one species, several at random, or given fractions. Lattice parameters come
from the caller or from :data:`LATTICE_PARAMETERS` (rounded room-temperature
experimental values; high-temperature phases such as β-Ti, β-Zr and ω-Zr at
the temperature they were measured), mixed by Vegard's rule for several
species. The simulation cell is a supercell of the conventional cell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.spacegroup import crystal

from hyperal.structures.composition import composition_counts
from hyperal.structures.limits import check_atoms, check_structures
from hyperal.utils import RngLike, as_rng


@dataclass(frozen=True)
class Prototype:
    """A crystal prototype: space group, Wyckoff basis per sublattice, and the
    names of its free lattice parameters (Å, degrees, fractional u)."""

    name: str
    spacegroup: int
    basis: tuple[tuple[float, ...], ...]  # one representative per basis kind
    kinds: tuple[str, ...]  # sublattice of each basis kind
    parameters: tuple[str, ...]
    kind: str  # "metal" or "oxide"

    @property
    def sublattices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.kinds))

    def cellpar(self, p: Mapping[str, float]) -> list[float]:
        a = p["a"]
        if self.parameters[:2] == ("a", "c"):
            gamma = 120.0 if self.spacegroup in (191, 194) else 90.0
            return [a, a, p["c"], 90.0, 90.0, gamma]
        if "beta" in self.parameters:
            return [a, p["b"], p["c"], 90.0, p["beta"], 90.0]
        return [a, a, a, 90.0, 90.0, 90.0]

    def basis_positions(self, p: Mapping[str, float]) -> list[tuple[float, ...]]:
        u = p.get("u", 0.0)
        return [tuple(u if x == "u" else x for x in site) for site in self.basis]


_RUTILE_O = ("u", "u", 0.0)

#: The library. Monoclinic ZrO2 (P2_1/c): Howard, Hill & Reichert, Acta Cryst.
#: B44, 116 (1988); ω phase (P6/mmm) 1a + 2d.
PROTOTYPES: dict[str, Prototype] = {
    p.name: p
    for p in [
        Prototype("bcc", 229, ((0, 0, 0),), ("metal",), ("a",), "metal"),
        Prototype("fcc", 225, ((0, 0, 0),), ("metal",), ("a",), "metal"),
        Prototype("hcp", 194, ((1 / 3, 2 / 3, 0.25),), ("metal",), ("a", "c"), "metal"),
        Prototype(
            "omega",
            191,
            ((0, 0, 0), (1 / 3, 2 / 3, 0.5)),
            ("metal", "metal"),
            ("a", "c"),
            "metal",
        ),
        Prototype(
            "rocksalt",
            225,
            ((0, 0, 0), (0.5, 0.5, 0.5)),
            ("cation", "anion"),
            ("a",),
            "oxide",
        ),
        Prototype(
            "fluorite",
            225,
            ((0, 0, 0), (0.25, 0.25, 0.25)),
            ("cation", "anion"),
            ("a",),
            "oxide",
        ),
        Prototype(
            "rutile",
            136,
            ((0, 0, 0), _RUTILE_O),
            ("cation", "anion"),
            ("a", "c", "u"),
            "oxide",
        ),
        Prototype(
            "monoclinic",
            14,
            (
                (0.2754, 0.0395, 0.2083),
                (0.0700, 0.3317, 0.3447),
                (0.4496, 0.7569, 0.4792),
            ),
            ("cation", "anion", "anion"),
            ("a", "b", "c", "beta"),
            "oxide",
        ),
    ]
}

#: Default lattice parameters per prototype, keyed by the metal (cation)
#: element: a, b, c in Å, beta in degrees, u fractional. Rounded experimental
#: values; check them for production work.
LATTICE_PARAMETERS: dict[str, dict[str, dict[str, float]]] = {
    "bcc": {
        "Nb": {"a": 3.300},
        "Ta": {"a": 3.303},
        "Mo": {"a": 3.147},
        "W": {"a": 3.165},
        "V": {"a": 3.024},
        "Cr": {"a": 2.884},
        "Fe": {"a": 2.866},
        "Ti": {"a": 3.306},  # β-Ti, 900 °C
        "Zr": {"a": 3.609},  # β-Zr, 862 °C
        "Hf": {"a": 3.610},  # β-Hf
    },
    "fcc": {
        "Al": {"a": 4.050},
        "Cu": {"a": 3.615},
        "Ni": {"a": 3.524},
        "Pd": {"a": 3.891},
        "Ag": {"a": 4.086},
        "Au": {"a": 4.078},
        "Pt": {"a": 3.924},
    },
    "hcp": {
        "Ti": {"a": 2.951, "c": 4.686},
        "Zr": {"a": 3.232, "c": 5.147},
        "Hf": {"a": 3.195, "c": 5.051},
        "Mg": {"a": 3.209, "c": 5.211},
        "Co": {"a": 2.507, "c": 4.070},
    },
    "omega": {
        "Ti": {"a": 4.625, "c": 2.813},
        "Zr": {"a": 5.036, "c": 3.109},
    },
    "rocksalt": {
        "Mg": {"a": 4.212},
        "Ni": {"a": 4.177},
        "Co": {"a": 4.261},
        "Ti": {"a": 4.180},
        "Nb": {"a": 4.211},  # NbO orders a quarter of both sublattices vacant
        "Zr": {"a": 4.62},  # ZrO: hypothetical (DFT-PBE estimate), a test phase
    },
    "fluorite": {
        "Zr": {"a": 5.090},  # c-ZrO2 (stabilised, extrapolated to pure)
        "Hf": {"a": 5.080},
        "Ce": {"a": 5.411},
    },
    "rutile": {
        "Ti": {"a": 4.594, "c": 2.959, "u": 0.305},
        "Sn": {"a": 4.737, "c": 3.186, "u": 0.307},
    },
    "monoclinic": {
        "Zr": {"a": 5.1505, "b": 5.2116, "c": 5.3173, "beta": 99.23},
        "Hf": {"a": 5.117, "b": 5.175, "c": 5.291, "beta": 99.22},
    },
}

SpeciesSpec = str | Sequence[str] | Mapping[str, float]


def _fractions(name: str, spec: SpeciesSpec) -> dict[str, float]:
    """A sublattice's species as fractions: "Cu", ["Nb", "Ti"] (equal) or
    {"Nb": 0.5, "Ti": 0.5}; "X" is a vacancy."""
    if isinstance(spec, str):
        fractions = {spec: 1.0}
    elif isinstance(spec, Mapping):
        fractions = {str(k): float(v) for k, v in spec.items()}
    else:
        fractions = {str(s): 1.0 for s in spec}
    if not fractions:
        raise ValueError(f"species[{name!r}] is empty: name at least one species")
    for symbol, value in fractions.items():
        if symbol not in atomic_numbers:
            raise ValueError(f"species[{name!r}]: {symbol!r} is not a chemical symbol")
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"species[{name!r}][{symbol!r}] must be >= 0, got {value}")
    total = sum(fractions.values())
    if not total > 0:
        raise ValueError(f"species[{name!r}]: fractions must have a positive sum")
    return {k: v / total for k, v in fractions.items()}


def lattice_parameters(
    prototype: str, species: Mapping[str, float], given: Mapping[str, float] | None
) -> dict[str, float]:
    """Lattice parameters: ``given`` ones, the rest by Vegard's rule over the
    default table entries of ``species`` (fractions of the metal/cation
    sublattice)."""
    proto = PROTOTYPES[prototype]
    given = dict(given or {})
    unknown = set(given) - set(proto.parameters)
    if unknown:
        raise ValueError(
            f"lattice: {prototype} has parameters {', '.join(proto.parameters)}; "
            f"got unknown {', '.join(sorted(unknown))}"
        )
    missing = [p for p in proto.parameters if p not in given]
    if missing:
        table = LATTICE_PARAMETERS[prototype]
        absent = [s for s in species if s not in table]
        if absent:
            raise ValueError(
                f"lattice: no default {prototype} parameters for {', '.join(absent)} "
                f"(table has {', '.join(table)}); give lattice={{"
                + ", ".join(f"'{p}': ..." for p in missing)
                + "}"
            )
        for p in missing:
            given[p] = sum(f * table[s][p] for s, f in species.items())
    for p, value in given.items():
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"lattice[{p!r}] must be a finite number > 0, got {value}")
    return given


def supercell_repeat(
    cell: np.ndarray, natoms: int, *, min_atoms: int = 1, min_width_A: float = 0.0
) -> tuple[int, int, int]:
    """Smallest repeat (greedy, widest gain first) with at least ``min_atoms``
    atoms and every perpendicular cell width at least ``min_width_A``."""
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    widths = np.array(
        [
            volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3]))
            for i in range(3)
        ]
    )
    repeat = np.ones(3, dtype=int)
    while True:
        short = repeat * widths < min_width_A - 1e-9
        if short.any():
            i = int(np.argmin(np.where(short, repeat * widths, np.inf)))
        elif natoms * repeat.prod() < min_atoms:
            i = int(np.argmin(repeat * widths))
        else:
            return tuple(int(r) for r in repeat)
        repeat[i] += 1


def known_structures(
    prototype: str,
    species: SpeciesSpec | Mapping[str, SpeciesSpec],
    *,
    n: int = 1,
    lattice: Mapping[str, float] | None = None,
    repeat: Sequence[int] | None = None,
    min_atoms: int = 1,
    min_width_A: float = 0.0,
    rng: RngLike = None,
) -> list[Atoms]:
    """Supercells of a prototype phase, decorated per sublattice.

    Parameters
    ----------
    prototype : str
        A name in :data:`PROTOTYPES`: bcc, fcc, hcp, omega, rocksalt, fluorite,
        rutile, monoclinic.
    species : str, list, fraction mapping, or mapping sublattice -> one of those
        Metals have the sublattice ``metal``; oxides ``cation`` and ``anion``
        (``anion`` defaults to O). A list spreads its species in equal shares,
        a mapping in the given fractions, at random over the sublattice's
        sites (exact counts by largest remainder); ``X`` marks vacancies.
    n : int
        Number of structures: random decorations differ, a single-species
        decoration gives ``n`` copies.
    lattice : mapping, optional
        Lattice parameters (a, b, c in Å, beta in degrees, u); missing ones
        from :data:`LATTICE_PARAMETERS` by Vegard's rule over the metal/cation
        species.
    repeat : (N1, N2, N3), optional
        Supercell of the conventional cell; default: the smallest meeting
        ``min_atoms`` and ``min_width_A`` (perpendicular width, e.g. twice a
        cutoff).
    rng : Generator, int or None

    Returns
    -------
    list of Atoms with ``info`` ``source="known"``, ``prototype``, the lattice
    parameters, ``repeat`` and ``species`` (as text).
    """
    if prototype not in PROTOTYPES:
        raise ValueError(
            f"prototype: unknown {prototype!r}; known: {', '.join(PROTOTYPES)}"
        )
    if int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n}")
    check_structures(n, "n")
    if int(min_atoms) != min_atoms or min_atoms < 1:
        raise ValueError(f"min_atoms must be an integer >= 1, got {min_atoms}")
    check_atoms(min_atoms, "min_atoms")
    if not (math.isfinite(min_width_A) and min_width_A >= 0):
        raise ValueError(f"min_width_A must be a finite number >= 0, got {min_width_A}")
    if repeat is not None and (
        len(repeat) != 3 or any(int(r) != r or r < 1 for r in repeat)
    ):
        raise ValueError(f"repeat must be three integers >= 1, got {tuple(repeat)}")
    proto = PROTOTYPES[prototype]
    spec = _species_by_sublattice(prototype, proto, species)
    fractions = {name: _fractions(name, value) for name, value in spec.items()}
    host = fractions[proto.sublattices[0]]
    params = lattice_parameters(
        prototype, {s: f for s, f in host.items() if s != "X"}, lattice
    )
    unit = _unit_cell(proto, params)
    if repeat is None:
        repeat = _least_repeat(unit, min_atoms, min_width_A)
    repeat = tuple(int(r) for r in repeat)
    check_atoms(len(unit) * math.prod(repeat), f"repeat {repeat}")
    cell = unit.repeat(repeat)
    cell.info.clear()  # ase.spacegroup's Spacegroup object does not serialise
    sublattice = np.array([proto.kinds[k] for k in cell.arrays["spacegroup_kinds"]])
    del cell.arrays["spacegroup_kinds"]
    rng = as_rng(rng)
    text = "; ".join(
        f"{name}=" + ",".join(f"{s}:{f:.4g}" for s, f in fr.items())
        for name, fr in fractions.items()
    )
    out = []
    for _ in range(int(n)):
        atoms = cell.copy()
        symbols = np.array(atoms.get_chemical_symbols(), dtype=object)
        for name, fr in fractions.items():
            sites = np.flatnonzero(sublattice == name)
            counts = composition_counts(fr, len(sites))
            draw = np.repeat(list(counts), list(counts.values()))
            symbols[sites] = rng.permutation(draw)
        atoms.set_chemical_symbols(list(symbols))
        atoms.arrays["sublattice"] = sublattice.astype(str)
        del atoms[[a.index for a in atoms if a.symbol == "X"]]
        atoms.info.update(
            source="known",
            prototype=prototype,
            repeat=repeat,
            species=text,
            **{f"lattice_{k}": float(v) for k, v in params.items()},
        )
        out.append(atoms)
    return out


def _species_by_sublattice(prototype: str, proto, species) -> dict:
    """``species`` as a mapping of every sublattice to its species (a bare
    list or fraction mapping names the only, or the cation, sublattice;
    an oxide's anion is O unless given)."""
    fractions_given = isinstance(species, Mapping) and all(
        isinstance(v, (int, float)) for v in species.values()
    )
    if not isinstance(species, Mapping) or (
        fractions_given and not set(species) <= set(proto.sublattices)
    ):
        if len(proto.sublattices) == 1:
            species = {proto.sublattices[0]: species}
        elif not isinstance(species, Mapping):
            species = {"cation": species}
    unknown = set(species) - set(proto.sublattices)
    if unknown:
        raise ValueError(
            f"species: {prototype} has sublattices {', '.join(proto.sublattices)}; "
            f"got {', '.join(sorted(unknown))}"
        )
    spec = dict(species)
    if proto.kind == "oxide":
        spec.setdefault("anion", "O")
    missing = [s for s in proto.sublattices if s not in spec]
    if missing:
        raise ValueError(f"species: give the species of sublattice(s) {missing}")
    return spec


def _unit_cell(proto, params) -> Atoms:
    """The conventional cell of ``proto`` (placeholder species per kind)."""
    placeholder = {"metal": "Cu", "cation": "Zr", "anion": "O"}
    return crystal(
        [placeholder[k] for k in proto.kinds],
        basis=proto.basis_positions(params),
        spacegroup=proto.spacegroup,
        cellpar=proto.cellpar(params),
        primitive_cell=False,
    )


def _least_repeat(unit: Atoms, min_atoms: int, min_width_A: float) -> tuple:
    """The smallest supercell of ``unit`` with ``min_atoms`` and perpendicular
    widths of ``min_width_A`` (its size checked before the search)."""
    widths = unit.cell.volume / np.linalg.norm(
        np.cross(unit.cell[[1, 2, 0]], unit.cell[[2, 0, 1]]), axis=1
    )
    least = len(unit) * np.prod(np.maximum(1, np.ceil(min_width_A / widths)))
    check_atoms(least, "min_width_A")  # before the search for the repeat
    return supercell_repeat(
        unit.cell[:], len(unit), min_atoms=min_atoms, min_width_A=min_width_A
    )
