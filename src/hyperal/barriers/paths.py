"""Hop-path environments, counted by symmetry (docs/method.md §7.1).

A *hop* moves a species from a start site to an end site of a lattice: a
vacancy hop exchanges a vacancy with a neighbouring lattice atom, an
interstitial hop moves an interstitial (oxygen) between interstitial sites.
Its *path neighbourhood* is the union of chosen distance shells of lattice
sites around the start and around the end, less the two path sites when
they are lattice sites. Its *path symmetry group* is the set of the
lattice's space-group operations that map the path onto itself — keeping
start and end (the *directed* convention) or also swapping them (the
*undirected* convention) — acting as permutations of the neighbourhood.

The number of symmetry-distinct decorations of ``n`` neighbourhood sites
with ``k`` species is Burnside's lemma (the Cauchy–Frobenius lemma; see
e.g. Pólya & Read, *Combinatorial Enumeration of Groups, Graphs, and
Chemical Compounds*, 1987): the mean over the group of ``k`` to the number
of cycles of each permutation — exact integers here. Representatives are the
lexicographically smallest decoration of each orbit (listed when ``k**n`` is
small enough to walk); random environments are drawn uniformly over orbits:
a uniform random decoration lands in an orbit with probability proportional
to the orbit's size |G|/|stabiliser|, so it is kept with probability
|stabiliser|/|G|, which makes every orbit equally likely.

The space group comes from spglib.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import spglib
from ase import Atoms
from ase.build import bulk
from ase.io import read

from hyperal.barriers.counting import (
    burnside,
    decoration_codes,
    decoration_digits,
    image_codes,
)
from hyperal.runs.settings import read_yaml
from hyperal.utils import RngLike, as_rng

Convention = Literal["directed", "undirected"]
CONVENTIONS: tuple[Convention, ...] = ("directed", "undirected")
"""How a hop path is counted: ``directed`` (A → B and B → A are two paths) or
``undirected`` (one)."""

#: Largest ``k**n`` for which :func:`representatives` walks every decoration.
MAX_ENUMERATED = 10**7

_TOL = 1e-4  # Å (positions) and fractional coordinates alike


@dataclass(frozen=True)
class HopCase:
    """A hop on a lattice.

    Attributes
    ----------
    name : str
    lattice : Atoms
        A periodic cell of the lattice (every atom a lattice site; their
        species do not matter).
    start, end : (3,) fractional coordinates in ``lattice``'s cell
        The hop's sites.
    kind : {"vacancy", "interstitial"}
        A vacancy hop's sites are lattice sites (a vacancy at ``start``, the
        hopping atom at ``end``); an interstitial hop's are not.
    start_shells, end_shells : tuple of int
        Distance shells of lattice sites (1 = nearest) around each path site
        that make up the neighbourhood.
    hopping : str
        What moves: "vacancy" (the atom at ``end`` exchanges with it; its
        species multiplies the count) or an interstitial species ("O").
    description : str
    """

    name: str
    lattice: Atoms
    start: tuple[float, float, float]
    end: tuple[float, float, float]
    kind: Literal["vacancy", "interstitial"]
    start_shells: tuple[int, ...] = (1,)
    end_shells: tuple[int, ...] = (1,)
    hopping: str = "vacancy"
    description: str = ""

    def __post_init__(self):
        if self.kind not in ("vacancy", "interstitial"):
            raise ValueError(f"kind must be vacancy or interstitial, got {self.kind!r}")
        for name in ("start_shells", "end_shells"):
            shells = getattr(self, name)
            if not shells or any(int(s) != s or s < 1 for s in shells):
                raise ValueError(f"{name} must be integers >= 1, got {shells}")
        if not np.all(self.lattice.pbc):
            raise ValueError("lattice must be periodic in all three directions")
        if np.allclose(self.start, self.end):
            raise ValueError("start and end are the same site")


def named_cases(a: float | None = None) -> dict[str, HopCase]:
    """The named hops with lattice parameter ``a`` (Å; default 3.3 for bcc,
    3.6 for fcc)."""
    cell = bulk("Nb", "bcc", a=a or 3.3, cubic=True)
    fcc = bulk("Cu", "fcc", a=a or 3.6, cubic=True)
    return {
        "fcc-vacancy": HopCase(
            "fcc-vacancy",
            fcc,
            (0.0, 0.0, 0.0),
            (0.5, 0.5, 0.0),
            "vacancy",
            (1,),
            (1,),
            "vacancy",
            "a vacancy exchanging with a first-nearest neighbour of fcc; "
            "neighbourhood: the first-neighbour shells of both sites",
        ),
        "bcc-vacancy": HopCase(
            "bcc-vacancy",
            cell,
            (0.0, 0.0, 0.0),
            (0.5, 0.5, 0.5),
            "vacancy",
            (1,),
            (1,),
            "vacancy",
            "a vacancy exchanging with a first-nearest neighbour of bcc; "
            "neighbourhood: the first-neighbour shells of both sites",
        ),
        "bcc-octahedral": HopCase(
            "bcc-octahedral",
            cell,
            (0.5, 0.0, 0.0),
            (0.5, 0.5, 0.0),
            "interstitial",
            (1, 2),
            (1, 2),
            "O",
            "an interstitial (O) between neighbouring octahedral sites of bcc; "
            "neighbourhood: the metal atoms of the two octahedra",
        ),
    }


def load_case(name: str, *, a: float | None = None) -> HopCase:
    """A named case (:func:`named_cases`, lattice parameter ``a``) or a
    YAML file defining one::

        name: fcc-vacancy
        lattice: {prototype: fcc, a: 3.6}   # or {file: cell.extxyz}
        start: [0, 0, 0]                    # fractional, in the lattice's cell
        end: [0.5, 0.5, 0]
        kind: vacancy                       # or interstitial (hopping: O)
        start_shells: [1]
        end_shells: [1]
    """
    path = Path(name)
    if not path.suffix and not path.exists():
        cases = named_cases(a)
        if name not in cases:
            raise ValueError(
                f"unknown hop {name!r}; named: {', '.join(cases)} (or a YAML file)"
            )
        return cases[name]

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of keys")
    allowed = {
        "name",
        "lattice",
        "start",
        "end",
        "kind",
        "start_shells",
        "end_shells",
        "hopping",
        "description",
    }
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(
            f"{path}: unknown key(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(allowed))}"
        )
    missing = sorted({"lattice", "start", "end", "kind"} - set(data))
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(missing)}")
    lattice = data["lattice"]
    if isinstance(lattice, dict) and "file" in lattice:
        cell = read(path.parent / lattice["file"])
    elif isinstance(lattice, dict) and "prototype" in lattice:
        cell = bulk(
            "Cu",
            lattice["prototype"],
            a=float(a or lattice.get("a", 3.6)),
            cubic=True,
        )
    else:
        raise ValueError(
            f"{path}: lattice: give {{prototype: ..., a: ...}} or {{file: ...}}"
        )
    try:
        return HopCase(
            str(data.get("name", path.stem)),
            cell,
            tuple(float(x) for x in data["start"]),
            tuple(float(x) for x in data["end"]),
            data["kind"],
            tuple(data.get("start_shells", (1,))),
            tuple(data.get("end_shells", (1,))),
            str(data.get("hopping", "vacancy" if data["kind"] == "vacancy" else "O")),
            str(data.get("description", "")),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class PathEnvironment:
    """A hop's neighbourhood and its symmetry.

    Attributes
    ----------
    case : HopCase
    positions : (n, 3) array
        Cartesian positions of the neighbourhood sites (Å), in a fixed order
        (by distance from the path's midpoint, then by coordinates).
    start, end : (3,) arrays
        Cartesian positions of the path sites.
    groups : dict convention -> (g, n) int array
        The distinct permutations of the neighbourhood by the path symmetry
        group: ``perm[i]`` is where site ``i`` goes.
    """

    case: HopCase
    positions: np.ndarray
    start: np.ndarray
    end: np.ndarray
    groups: dict[str, np.ndarray] = field(repr=False)

    @property
    def n_sites(self) -> int:
        return len(self.positions)

    def group_order(self, convention: Convention) -> int:
        return len(self.groups[_convention(convention)])

    def count(self, k: int, convention: Convention = "directed") -> int:
        """Symmetry-distinct decorations with ``k`` species (Burnside), not
        counting the hopping atom's species (see :meth:`total`)."""
        return burnside(self.groups[_convention(convention)], k)

    def total(self, k: int, convention: Convention = "directed") -> int:
        """Distinct hops: :meth:`count`, times ``k`` for a vacancy hop (the
        species of the atom that hops)."""
        factor = k if self.case.kind == "vacancy" else 1
        return factor * self.count(k, convention)


def _convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(
            f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}"
        )
    return convention


def _shell_sites(frac_sites, cell, centre, shells) -> np.ndarray:
    """Indices of the sites in the given distance shells of ``centre``."""
    distances = np.linalg.norm((frac_sites - centre) @ cell, axis=1)
    distinct = []
    for d in np.sort(distances):
        if d > _TOL and (not distinct or d - distinct[-1] > 1e-3):
            distinct.append(d)
    wanted = [distinct[s - 1] for s in shells]
    return np.flatnonzero(
        np.any(np.abs(distances[:, None] - np.array(wanted)[None, :]) < 1e-3, axis=1)
    )


def path_environment(case: HopCase) -> PathEnvironment:
    """The neighbourhood of ``case`` and its path symmetry group in both
    conventions."""

    lattice = case.lattice
    cell = np.asarray(lattice.cell[:], dtype=float)
    base = lattice.get_scaled_positions(wrap=True)
    start = np.asarray(case.start, dtype=float)
    end = np.asarray(case.end, dtype=float)
    # lattice sites in a block of cells grown until it holds the chosen
    # shells whole (their farthest site well inside the block)
    widths = lattice.cell.volume / np.linalg.norm(
        np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1
    )
    reach = 1
    while True:
        axis = np.arange(-reach, reach + 1)
        shifts = np.array(np.meshgrid(axis, axis, axis, indexing="ij"), dtype=float)
        shifts = shifts.reshape(3, -1).T
        sites = (shifts[:, None, :] + base[None, :, :]).reshape(-1, 3)
        chosen = set(_shell_sites(sites, cell, start, case.start_shells)) | set(
            _shell_sites(sites, cell, end, case.end_shells)
        )
        farthest = max(
            np.linalg.norm((sites[i] - c) @ cell) for i in chosen for c in (start, end)
        )
        if farthest < (reach - 1) * widths.min():
            break
        reach += 1
    frac = sites[sorted(chosen)]
    on_path = (np.linalg.norm((frac - start) @ cell, axis=1) < _TOL) | (
        np.linalg.norm((frac - end) @ cell, axis=1) < _TOL
    )
    frac = frac[~on_path]
    if case.kind == "vacancy":
        for site, name in ((start, "start"), (end, "end")):
            if np.min(np.linalg.norm((sites - site) @ cell, axis=1)) > _TOL:
                raise ValueError(f"a vacancy hop's {name} must be a lattice site")
    # a fixed order: by distance from the midpoint, then coordinates
    mid = (start + end) / 2
    cart = frac @ cell
    key = np.round(np.c_[np.linalg.norm(cart - mid @ cell, axis=1), cart], 6)
    order = np.lexsort(key.T[::-1])
    frac, cart = frac[order], cart[order]

    symmetry = spglib.get_symmetry(
        (cell, base, np.ones(len(base), dtype=int)), symprec=1e-4
    )
    groups: dict[str, list] = {"directed": [], "undirected": []}
    for rotation, translation in zip(
        symmetry["rotations"], symmetry["translations"], strict=True
    ):
        image_start = rotation @ start + translation
        image_end = rotation @ end + translation
        for swapped, (to_start, to_end) in enumerate(((start, end), (end, start))):
            shift = np.round(to_start - image_start)
            if not (
                np.allclose(image_start + shift, to_start, atol=_TOL)
                and np.allclose(image_end + shift, to_end, atol=_TOL)
            ):
                continue
            images = frac @ rotation.T + translation + shift
            gap = np.linalg.norm((images[:, None, :] - frac[None, :, :]) @ cell, axis=2)
            perm = np.argmin(gap, axis=1)
            if np.max(gap[np.arange(len(frac)), perm]) > 1e-3:
                continue  # shells of start and end differ: not a symmetry of it
            groups["undirected"].append(perm)
            if not swapped:
                groups["directed"].append(perm)
    return PathEnvironment(
        case,
        cart,
        start @ cell,
        end @ cell,
        {c: np.unique(np.array(p, dtype=np.int64), axis=0) for c, p in groups.items()},
    )


def representatives(
    env: PathEnvironment, k: int, convention: Convention = "directed"
) -> np.ndarray:
    """One decoration per orbit (its smallest code), as an (count, n) array
    of species indices 0..k-1, in code order; only when ``k**n`` is at most
    :data:`MAX_ENUMERATED`."""
    group = env.groups[_convention(convention)]
    n = env.n_sites
    raw = int(k) ** n
    if raw > MAX_ENUMERATED:
        raise ValueError(
            f"{raw:,} decorations ({k}^{n}) are too many to walk (limit "
            f"{MAX_ENUMERATED:,}); draw random ones instead (sample)"
        )
    keep = []
    chunk = max(1, 2**20 // max(1, len(group)))
    for first in range(0, raw, chunk):
        codes = np.arange(first, min(raw, first + chunk), dtype=np.int64)
        images = image_codes(decoration_digits(codes, n, k), group, k)
        keep.append(codes[images.min(axis=1) == codes])
    return decoration_digits(np.concatenate(keep), n, k)


def canonical(
    env: PathEnvironment, decorations: np.ndarray, k: int, convention="directed"
) -> np.ndarray:
    """The representative (smallest code) of each decoration's orbit."""
    group = env.groups[_convention(convention)]
    decorations = np.atleast_2d(decorations)
    return decoration_digits(
        image_codes(decorations, group, k).min(axis=1), env.n_sites, k
    )


def sample(
    env: PathEnvironment,
    k: int,
    n: int,
    convention: Convention = "directed",
    *,
    rng: RngLike = None,
    max_draws: int | None = None,
) -> np.ndarray:
    """``n`` distinct environments drawn uniformly over the orbits, as their
    representatives ((n, sites) species indices), in draw order. A uniform
    random decoration is kept with probability |stabiliser|/|G| — inversely
    proportional to its orbit's size, so every orbit has the same chance —
    and repeats are passed over."""
    group = env.groups[_convention(convention)]
    available = env.count(k, convention)
    if int(n) != n or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n}")
    if n > available:
        raise ValueError(
            f"n = {n} exceeds the {available:,} distinct environments ({convention})"
        )
    rng = as_rng(rng)
    max_draws = max_draws or 1000 * max(n, 1) + 10_000
    seen: dict[int, None] = {}
    draws = 0
    while len(seen) < n:
        batch = min(4096, max_draws - draws)
        if batch <= 0:
            raise RuntimeError(
                f"found {len(seen)} of {n} distinct environments in {draws} draws"
            )
        digits = rng.integers(0, k, size=(batch, env.n_sites))
        draws += batch
        codes = decoration_codes(digits, k)
        images = image_codes(digits, group, k)
        stabiliser = (images == codes[:, None]).sum(axis=1)
        accepted = rng.random(batch) < stabiliser / len(group)
        for code in images.min(axis=1)[accepted]:
            if len(seen) == n:
                break
            seen.setdefault(int(code), None)
    return decoration_digits(np.array(list(seen), dtype=np.int64), env.n_sites, k)


__all__ = [
    "CONVENTIONS",
    "HopCase",
    "PathEnvironment",
    "burnside",
    "canonical",
    "load_case",
    "named_cases",
    "path_environment",
    "representatives",
    "sample",
]
