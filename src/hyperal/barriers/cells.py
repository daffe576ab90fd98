"""Hop cells: a path environment's decoration placed in a supercell, the
hop's end state, strained cells, and an environment's counts in words."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

from hyperal.barriers.paths import CONVENTIONS, PathEnvironment
from hyperal.structures.strain import deform
from hyperal.utils import RngLike, as_rng


def _site_index(supercell: Atoms, position) -> tuple[int, float]:
    """The supercell site nearest ``position`` (periodic) and its distance."""

    delta, distances = find_mic(supercell.positions - position, supercell.cell, True)
    index = int(np.argmin(distances))
    return index, float(distances[index])


def decorated_cell(
    env: PathEnvironment,
    decoration,
    species: list[str],
    *,
    hopping: str | None = None,
    repeat: int | tuple[int, int, int] = 3,
    fractions: dict[str, float] | None = None,
    rng: RngLike = None,
) -> Atoms:
    """A supercell (``repeat`` of the lattice's cell) holding the hop in the
    environment ``decoration`` (species indices into ``species``): the
    neighbourhood sites decorated, the other lattice sites drawn at random
    (seeded) from ``species`` — in the proportions ``fractions`` when given,
    else equally. A vacancy hop has its start site empty and the
    atom ``hopping`` (a species; required) at the end; an interstitial hop
    has its species (``case.hopping``) at the start site. ``info`` records
    the hop, the decoration, the hopping atom's index (``hop_atom``) and the
    path's end points; :func:`hop_end` moves it across."""
    case = env.case
    if case.kind == "vacancy" and hopping not in species:
        raise ValueError(
            f"hopping: give the species of the atom that hops, one of {species}"
        )
    reps = (repeat,) * 3 if np.ndim(repeat) == 0 else tuple(repeat)
    rng = as_rng(rng)
    supercell = case.lattice.repeat(reps)
    shift = (np.array(reps) // 2) @ np.asarray(case.lattice.cell[:])
    weights = None
    if fractions is not None:
        weights = np.array([fractions.get(x, 0.0) for x in species], dtype=float)
        if not (np.all(weights >= 0) and weights.sum() > 0):
            raise ValueError(f"fractions must be >= 0 with a positive sum: {fractions}")
        weights = weights / weights.sum()
    symbols = list(rng.choice(species, size=len(supercell), p=weights))
    used = set()
    start, end = env.start + shift, env.end + shift
    for site, kind in zip(env.positions + shift, decoration, strict=True):
        index, gap = _site_index(supercell, site)
        if gap > 1e-3 or index in used:
            raise ValueError(
                f"repeat {reps} is too small to hold the hop's neighbourhood"
            )
        used.add(index)
        symbols[index] = species[int(kind)]
    if case.kind == "vacancy":
        (hop_index, _), (vacancy, _) = (
            _site_index(supercell, end),
            _site_index(supercell, start),
        )
        if {hop_index, vacancy} & used or hop_index == vacancy:
            raise ValueError(f"repeat {reps} is too small to hold the hop")
        symbols[hop_index] = hopping
        supercell.symbols = symbols
        del supercell[vacancy]
        hop_atom = hop_index - (vacancy < hop_index)
    else:
        supercell.symbols = symbols
        supercell += Atoms(case.hopping, positions=[start])
        hop_atom = len(supercell) - 1
    supercell.wrap()
    supercell.info.update(
        source="hop",
        hop=case.name,
        decoration="".join(str(int(x)) for x in decoration),
        hopping=hopping if case.kind == "vacancy" else case.hopping,
        hop_atom=int(hop_atom),
        hop_start=start.tolist(),
        hop_end=end.tolist(),
    )
    return supercell


def hop_end(start: Atoms) -> Atoms:
    """The hop's end state: ``start`` (from :func:`decorated_cell`) with its
    hopping atom moved from the start of the path to its end (for a vacancy
    hop: the atom at the path's end moved into the vacancy)."""
    end = start.copy()
    atom = int(start.info["hop_atom"])
    path_start = np.array(start.info["hop_start"])
    path_end = np.array(start.info["hop_end"])

    # a vacancy hop's atom sits at the path's end and moves to its start;
    # an interstitial's the other way round
    (to_start, to_end), _ = find_mic(
        np.array([path_start, path_end]) - end.positions[atom], end.cell, True
    )
    if np.linalg.norm(to_start) < np.linalg.norm(to_end):
        end.positions[atom] += to_end
    else:
        end.positions[atom] += to_start
    end.wrap()
    return end


def strained(start: Atoms, f: np.ndarray) -> Atoms:
    """A copy of the hop ``start`` (from :func:`decorated_cell`) with its
    cell, atoms and path end points mapped by the deformation gradient ``f``
    (rows: ``new = old @ f.T``), so :func:`hop_end` still finds the path."""

    f = np.asarray(f, dtype=float)
    out = deform(start, f)
    for key in ("hop_start", "hop_end"):
        out.info[key] = (np.asarray(start.info[key]) @ f.T).tolist()
    return out


def describe(env: PathEnvironment, k: int) -> list[str]:
    """The ``count`` lines: ``<convention> sites=<n> group_order=<g>
    count=<integer>`` (the hopping atom's species included for a vacancy)."""
    return [
        f"{c} sites={env.n_sites} group_order={env.group_order(c)} "
        f"count={env.total(k, c)}"
        for c in CONVENTIONS
    ]
