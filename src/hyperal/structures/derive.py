"""Derived structures: known or enumerated phases, perturbed (docs/method.md §1.3).

Each derived structure draws, independently (reference defaults metal /
oxide):

- sublattice-respecting substitution: each atom, with probability 50 % / 10 %,
  becomes another species of the same kind (metal ↔ metal, anion ↔ anion);
- deletion: each atom removed with probability 5 %;
- volumetric strain uniform in −2.5 % … +7.5 % (V'/V − 1);
- von Mises (deviatoric, volume-preserving) strain uniform in 0 … 20 %;
- Gaussian atomic displacements, standard deviation 0.4 Å / 0.3 Å per
  Cartesian component;

applied in that order. Every drawn value is recorded in ``info`` and the
displacements in ``arrays["displacement"]`` (Å).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np
from ase import Atoms

from hyperal.structures.limits import check_structures
from hyperal.structures.strain import deform, deformation, deviatoric_strain
from hyperal.utils import RngLike, as_rng

#: Species treated as anions by substitution; every other element is a metal.
ANIONS = frozenset({"O", "N", "F", "S", "Cl", "Se", "Br", "Te", "I", "H", "C", "B"})


def species_kind(symbol: str) -> str:
    """``anion`` for the elements in :data:`ANIONS`, else ``metal``."""
    return "anion" if symbol in ANIONS else "metal"


@dataclass(frozen=True)
class DerivationParameters:
    """Perturbation parameters (docs/method.md §1.3).

    Attributes
    ----------
    displacement_std_A : float
        Standard deviation of each Cartesian displacement component (Å).
    volumetric_strain : (low, high)
        Range of V'/V − 1.
    von_mises_strain : (low, high)
        Range of the von Mises equivalent strain of the deviatoric part.
    deletion_probability, substitution_probability : float
        Per-atom probabilities in [0, 1].
    """

    displacement_std_A: float
    volumetric_strain: tuple[float, float] = (-0.025, 0.075)
    von_mises_strain: tuple[float, float] = (0.0, 0.20)
    deletion_probability: float = 0.05
    substitution_probability: float = 0.5

    def __post_init__(self):
        if not (
            math.isfinite(self.displacement_std_A) and self.displacement_std_A >= 0
        ):
            raise ValueError(
                f"displacement_std_A must be >= 0, got {self.displacement_std_A}"
            )
        for name in ("deletion_probability", "substitution_probability"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        for name, low_limit in (("volumetric_strain", -0.9), ("von_mises_strain", 0.0)):
            lo, hi = getattr(self, name)
            if not (np.isfinite([lo, hi]).all() and low_limit <= lo <= hi):
                raise ValueError(
                    f"{name} must be (low, high) with {low_limit} <= low <= high, "
                    f"got {(lo, hi)}"
                )


#: Reference defaults per kind of parent.
DEFAULTS: dict[str, DerivationParameters] = {
    "metal": DerivationParameters(displacement_std_A=0.4, substitution_probability=0.5),
    "oxide": DerivationParameters(displacement_std_A=0.3, substitution_probability=0.1),
}


def _pools(
    parents: Sequence[Atoms], species: Mapping[str, Sequence[str]] | None
) -> dict[str, list[str]]:
    pools: dict[str, list[str]] = {"metal": [], "anion": []}
    if species is None:
        for atoms in parents:
            for symbol in dict.fromkeys(atoms.get_chemical_symbols()):
                if symbol not in pools[species_kind(symbol)]:
                    pools[species_kind(symbol)].append(symbol)
        return pools
    unknown = set(species) - set(pools)
    if unknown:
        raise ValueError(
            f"species: kinds are 'metal' and 'anion', got {', '.join(sorted(unknown))}"
        )
    for kind, symbols in species.items():
        pools[kind] = list(symbols)
    return pools


def derive_structures(
    parents: Atoms | Sequence[Atoms],
    n: int,
    *,
    kind: Literal["metal", "oxide"] = "metal",
    species: Mapping[str, Sequence[str]] | None = None,
    parameters: DerivationParameters | None = None,
    rng: RngLike = None,
    **overrides,
) -> list[Atoms]:
    """``n`` perturbed copies of parents drawn at random (with replacement).

    Parameters
    ----------
    parents : Atoms or sequence of Atoms
        Known or enumerated structures.
    n : int
        Number of derived structures.
    kind : {"metal", "oxide"}
        Which reference defaults (:data:`DEFAULTS`) apply.
    species : mapping kind -> symbols, optional
        Substitution pools, e.g. ``{"metal": ["Nb", "Ti", "Zr"], "anion":
        ["O"]}``; default: the species present in the parents, per kind. An
        atom is substituted by a different member of its kind's pool (an
        atom alone in its pool stays).
    parameters : DerivationParameters, optional
        Replaces the defaults of ``kind``; keyword ``overrides`` (e.g.
        ``deletion_probability=0.1``) then replace single fields.
    rng : Generator, int or None

    Returns
    -------
    list of Atoms, ``info``: ``source="derived"``, ``parent_source``, ``kind``,
    the parameters and the drawn ``volumetric_strain``, ``von_mises_strain``,
    ``n_deleted``, ``n_substituted``; ``arrays["displacement"]``.
    """
    if isinstance(parents, Atoms):
        parents = [parents]
    parents = list(parents)
    if not parents:
        raise ValueError("parents is empty: give at least one structure")
    if int(n) != n or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n}")
    check_structures(n, "n")
    if kind not in DEFAULTS:
        raise ValueError(f"kind must be one of {', '.join(DEFAULTS)}, got {kind!r}")
    params = parameters or DEFAULTS[kind]
    try:
        params = replace(params, **overrides)
    except TypeError as exc:
        raise ValueError(
            f"unknown parameter(s) {', '.join(overrides)}; allowed: "
            f"{', '.join(asdict(params))}"
        ) from exc
    pools = _pools(parents, species)
    rng = as_rng(rng)
    out = []
    for _ in range(int(n)):
        parent = parents[int(rng.integers(len(parents)))]
        out.append(_derive_one(parent, params, pools, kind, rng))
    return out


def _derive_one(parent, params, pools, kind, rng) -> Atoms:
    atoms = parent.copy()
    atoms.calc = None
    for key in ("displacement", "forces", "momenta"):
        atoms.arrays.pop(key, None)

    symbols = np.array(atoms.get_chemical_symbols(), dtype=object)
    substituted = 0
    for i in np.flatnonzero(rng.random(len(atoms)) < params.substitution_probability):
        pool = [s for s in pools[species_kind(symbols[i])] if s != symbols[i]]
        if pool:
            symbols[i] = pool[int(rng.integers(len(pool)))]
            substituted += 1
    atoms.set_chemical_symbols(list(symbols))

    delete = np.flatnonzero(rng.random(len(atoms)) < params.deletion_probability)
    if len(delete) == len(atoms):  # keep at least one atom
        delete = delete[1:]
    del atoms[delete]

    volumetric = float(rng.uniform(*params.volumetric_strain))
    von_mises = float(rng.uniform(*params.von_mises_strain))
    f = deformation(volumetric=volumetric, deviatoric=deviatoric_strain(von_mises, rng))
    atoms = deform(atoms, f)

    displacement = rng.normal(scale=params.displacement_std_A, size=(len(atoms), 3))
    atoms.positions += displacement
    atoms.arrays["displacement"] = displacement

    info = {k: v for k, v in parent.info.items() if not k.startswith("parent_")}
    atoms.info = {
        **{f"parent_{k}": v for k, v in info.items()},
        "source": "derived",
        "kind": kind,
        "displacement_std_A": params.displacement_std_A,
        "deletion_probability": params.deletion_probability,
        "substitution_probability": params.substitution_probability,
        "volumetric_strain": volumetric,
        "von_mises_strain": von_mises,
        "n_deleted": len(delete),
        "n_substituted": substituted,
    }
    return atoms
