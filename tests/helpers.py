"""Test helpers: small EMT cells (and, re-exported, the finite-difference gradient)."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk

from hyperal.testing import central_difference

__all__ = ["central_difference", "rattled_cu", "rattled_cuni"]


def rattled_cuni(seed: int = 1, stdev: float = 0.1) -> Atoms:
    """A 32-atom fcc Cu–Ni cell (2×2×2 conventional), rattled, float64."""
    atoms = bulk("Cu", "fcc", a=3.58, cubic=True).repeat(2)
    atoms.symbols[np.random.default_rng(seed).permutation(32)[:12]] = "Ni"
    atoms.rattle(stdev, seed=seed)
    return atoms


def rattled_cu(seed: int = 3, stdev: float = 0.15) -> Atoms:
    """A 32-atom fcc Cu cell (2×2×2 conventional), rattled."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(stdev, seed=seed)
    return atoms
