"""Symmetry-distinct decorations of a parent lattice, enumerated with icet
(docs/method.md §1.2).

``icet.tools.enumerate_structures`` implements the algorithm of Hart & Forcade,
Phys. Rev. B 77, 224115 (2008) and 80, 014120 (2009): all inequivalent
decorations of all inequivalent supercells of a parent lattice up to a size.
Here: per-site allowed species including interstitial sites and vacancies
(``X``, removed from the returned structures), a count-only mode, an estimate
that refuses enormous requests before icet starts, and random sub-sampling.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers

from hyperal.structures.limits import check_cells
from hyperal.utils import RngLike, as_rng

VACANCY = "X"

#: Interstitial sites per primitive-cell atom, in the primitive cell's
#: fractional coordinates (ASE's ``bulk`` cells).
INTERSTITIAL_SITES: dict[tuple[str, str], tuple[tuple[float, float, float], ...]] = {
    # bcc: the 3 octahedral sites per atom (face centres and edge midpoints)
    ("bcc", "octahedral"): ((0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0)),
    # fcc: 1 octahedral site per atom (the cube centre)
    ("fcc", "octahedral"): ((0.5, 0.5, 0.5),),
    # fcc: 2 tetrahedral sites per atom
    ("fcc", "tetrahedral"): ((0.25, 0.25, 0.25), (0.75, 0.75, 0.75)),
}


def interstitial_parent(
    lattice: str,
    a: float,
    *,
    sites: str = "octahedral",
    host: str = "Nb",
    interstitial: str = "O",
) -> Atoms:
    """A primitive parent cell: the host lattice site first, then its
    interstitial sites (placeholders ``host`` and ``interstitial``).

    Parameters
    ----------
    lattice : {"bcc", "fcc"}
    a : float
        Cubic lattice parameter (Å).
    sites : {"octahedral", "tetrahedral"}
        Interstitial sites (fcc has both; bcc octahedral here).
    """
    if (lattice, sites) not in INTERSTITIAL_SITES:
        raise ValueError(
            f"lattice/sites: no {sites} sites for {lattice!r}; known: "
            + ", ".join(f"{lat}/{s}" for lat, s in INTERSTITIAL_SITES)
        )
    parent = bulk(host, lattice, a=a)
    for position in INTERSTITIAL_SITES[(lattice, sites)]:
        parent += Atoms(interstitial, scaled_positions=[position], cell=parent.cell)
    parent.pbc = True
    return parent


def _site_species(parent: Atoms, species) -> list[list[str]]:
    if isinstance(species, str):
        raise ValueError("species must be a list of symbols or one list per site")
    species = list(species)
    if not species:
        raise ValueError("species is empty: give the allowed species")
    if all(isinstance(s, str) for s in species):
        per_site = [list(species)] * len(parent)
    else:
        per_site = [list(s) for s in species]
        if len(per_site) != len(parent):
            raise ValueError(
                f"species: {len(per_site)} site lists for a parent with "
                f"{len(parent)} sites"
            )
    for k, allowed in enumerate(per_site):
        if not allowed:
            raise ValueError(f"species[{k}] is empty: each site needs a species")
        for symbol in allowed:
            if symbol != VACANCY and symbol not in atomic_numbers:
                raise ValueError(
                    f"species[{k}]: {symbol!r} is not a chemical symbol (or "
                    f"{VACANCY!r} for a vacancy)"
                )
    return per_site


def _sizes(sizes: int | Iterable[int]) -> list[int]:
    sizes = list(range(1, int(sizes) + 1)) if np.ndim(sizes) == 0 else list(sizes)
    if not sizes or min(sizes) < 1 or any(int(s) != s for s in sizes):
        raise ValueError(f"sizes must be integers >= 1, got {sizes}")
    check_cells(max(sizes), "sizes")
    return sorted(set(int(s) for s in sizes))


def estimate_count(
    parent: Atoms,
    species: Sequence[str] | Sequence[Sequence[str]],
    sizes: int | Iterable[int],
    *,
    symprec: float = 1e-5,
) -> float:
    """An upper estimate of the number of distinct decorations, without
    enumerating them.

    For each size n (primitive cells): (symmetry-distinct supercells of n
    cells, from icet's Hermite-normal-form reduction) × (decorations of their
    sites, divided by the n translations). Decorations equivalent by a
    rotation that keeps the supercell, superperiodic ones and concentration
    restrictions are not taken out, so the estimate errs high (at most by the
    point-group order per supercell).
    """
    # icet's own (underscore) helpers: the symmetry operations with basis
    # shifts and the reduced HNFs are exactly what its enumeration walks.
    # lazy: icet takes seconds to load; only enumeration needs it
    from icet.tools.structure_enumeration import (
        _get_symmetry_operations,
        yield_reduced_hnfs,
    )

    per_site = _site_species(parent, species)
    symmetries = _get_symmetry_operations(
        parent, symprec=symprec, position_tolerance=symprec
    )
    per_cell = math.prod(len(s) for s in per_site)
    total = 0.0
    for n in _sizes(sizes):
        supercells = sum(1 for _ in yield_reduced_hnfs(n, symmetries, parent.pbc))
        total += supercells * float(per_cell) ** n / n
    return total


def _generator(parent, per_site, sizes, concentration_restrictions, symprec):
    # lazy: icet takes seconds to load; only enumeration needs it
    from icet.tools import enumerate_structures

    return enumerate_structures(
        parent,
        sizes,
        per_site,
        concentration_restrictions=concentration_restrictions,
        symprec=symprec,
    )


def count_decorations(
    parent: Atoms,
    species: Sequence[str] | Sequence[Sequence[str]],
    sizes: int | Iterable[int],
    *,
    concentration_restrictions: dict | None = None,
    max_structures: int = 100_000,
    symprec: float = 1e-5,
) -> int:
    """Exact number of distinct decorations (icet walks them without keeping
    any), after refusing requests whose estimate exceeds ``max_structures``."""
    per_site = _site_species(parent, species)
    sizes = _sizes(sizes)
    _refuse_enormous(parent, per_site, sizes, max_structures, symprec)
    return sum(
        1
        for _ in _generator(
            parent, per_site, sizes, concentration_restrictions, symprec
        )
    )


def _refuse_enormous(parent, per_site, sizes, max_structures, symprec=1e-5):
    if int(max_structures) != max_structures or max_structures < 1:
        raise ValueError(
            f"max_structures must be an integer >= 1, got {max_structures}"
        )
    estimate = estimate_count(parent, per_site, sizes, symprec=symprec)
    if estimate > max_structures:
        raise ValueError(
            f"sizes: about {estimate:.3g} decorations for sizes up to {max(sizes)} "
            f"(max_structures={max_structures}); lower the sizes, restrict the "
            "species, or raise max_structures"
        )


def enumerate_decorations(
    parent: Atoms,
    species: Sequence[str] | Sequence[Sequence[str]],
    sizes: int | Iterable[int],
    *,
    concentration_restrictions: dict | None = None,
    sample: int | None = None,
    max_structures: int = 100_000,
    symprec: float = 1e-5,
    rng: RngLike = None,
) -> list[Atoms]:
    """Symmetry-distinct decorations of ``parent`` in supercells of up to
    ``sizes`` primitive cells.

    Parameters
    ----------
    parent : Atoms
        Primitive parent cell (e.g. :func:`interstitial_parent`).
    species : list of symbols, or one list per parent site
        Allowed species; ``X`` is a vacancy (removed from the results), e.g.
        ``[["Nb", "Ti", "Zr"], ["O", "X"], ["O", "X"], ["O", "X"]]``.
    sizes : int or iterable of int
        Supercell sizes in primitive cells (an int n means 1..n).
    concentration_restrictions : dict, optional
        icet's ``{symbol: (low, high)}`` fractions of all sites.
    sample : int, optional
        Return this many, drawn at random without replacement.
    max_structures : int
        Refuse a request whose estimated count (:func:`estimate_count`)
        exceeds this, before enumerating.
    rng : Generator, int or None
        For ``sample``.

    Returns
    -------
    list of Atoms with ``info`` ``source="enumerated"``, ``size`` (primitive
    cells) and ``enumeration_index``; structures that are all vacancy are
    dropped.
    """
    per_site = _site_species(parent, species)
    sizes = _sizes(sizes)
    _refuse_enormous(parent, per_site, sizes, max_structures, symprec)
    if sample is not None and (int(sample) != sample or sample < 0):
        raise ValueError(f"sample must be an integer >= 0, got {sample}")
    out = []
    for index, atoms in enumerate(
        _generator(parent, per_site, sizes, concentration_restrictions, symprec)
    ):
        size = len(atoms) // len(parent)
        del atoms[[a.index for a in atoms if a.symbol == VACANCY]]
        if len(atoms) == 0:
            continue
        atoms.info.update(source="enumerated", size=size, enumeration_index=index)
        out.append(atoms)
    if sample is not None and sample < len(out):
        keep = np.sort(as_rng(rng).choice(len(out), size=int(sample), replace=False))
        out = [out[k] for k in keep]
    return out
