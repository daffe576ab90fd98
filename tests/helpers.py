"""Test helpers: small EMT cells and a finite-difference gradient."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk


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


def central_difference(function, atoms: Atoms, h: float = 1e-4) -> np.ndarray:
    """d function(atoms) / d positions by central differences (per coordinate)."""
    probe = atoms.copy()
    p0 = atoms.get_positions()
    gradient = np.zeros_like(p0)
    for index in np.ndindex(*p0.shape):
        p = p0.copy()
        p[index] += h
        probe.set_positions(p)
        f_plus = function(probe)
        p[index] -= 2 * h
        probe.set_positions(p)
        f_minus = function(probe)
        gradient[index] = (f_plus - f_minus) / (2 * h)
    return gradient
