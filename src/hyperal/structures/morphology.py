"""Cell morphology (docs/method.md §1.6): N1×N2×N3 repeats of a conventional cell, each
Ni drawn from a set (default {2, 3}), with an optional random strain — a
uniform isotropic linear strain (−5 % … +10 %) and a volume-preserving von
Mises strain (0–5 %) — emulating lattice strain in complex alloys. Mostly a
hyperparameter of the barrier workflow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from hyperal.structures.strain import deform, deformation, deviatoric_strain
from hyperal.utils import as_rng


@dataclass(frozen=True)
class Morphology:
    """One cell morphology: ``repeat`` (N1, N2, N3), ``linear_strain``
    (L'/L − 1), ``von_mises_strain`` and the deformation gradient ``F``."""

    repeat: tuple[int, int, int]
    linear_strain: float
    von_mises_strain: float
    F: np.ndarray

    def apply(self, conventional: Atoms) -> Atoms:
        """The strained supercell of ``conventional``, parameters in ``info``."""
        atoms = deform(conventional.repeat(self.repeat), self.F)
        atoms.info.update(
            conventional.info,
            repeat=self.repeat,
            linear_strain=self.linear_strain,
            von_mises_strain=self.von_mises_strain,
        )
        return atoms


def _range(name: str, bounds, *, low_limit: float) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {bounds!r}") from None
    if not (np.isfinite([lo, hi]).all() and low_limit <= lo <= hi):
        raise ValueError(
            f"{name} must satisfy {low_limit} <= low <= high, got {bounds!r}"
        )
    return lo, hi


def sample_morphologies(
    n: int,
    *,
    repeats: Sequence[int] = (2, 3),
    linear_strain: tuple[float, float] = (-0.05, 0.10),
    von_mises_strain: tuple[float, float] = (0.0, 0.05),
    rng: np.random.Generator | int | None = None,
) -> list[Morphology]:
    """Draw ``n`` morphologies; pass ``(0, 0)`` ranges for unstrained cells."""
    if int(n) != n or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n}")
    repeats = [int(r) for r in repeats]
    if not repeats or min(repeats) < 1:
        raise ValueError(
            f"repeats must be a non-empty set of integers >= 1, got {repeats}"
        )
    lin = _range("linear_strain", linear_strain, low_limit=-0.5)
    vm = _range("von_mises_strain", von_mises_strain, low_limit=0.0)
    rng = as_rng(rng)
    out = []
    for _ in range(int(n)):
        repeat = tuple(int(r) for r in rng.choice(repeats, size=3))
        e_lin = float(rng.uniform(*lin))
        e_vm = float(rng.uniform(*vm))
        f = deformation(linear=e_lin, deviatoric=deviatoric_strain(e_vm, rng))
        out.append(Morphology(repeat, e_lin, e_vm, f))
    return out
