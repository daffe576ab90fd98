"""Finite differences, for checking gradients."""

from __future__ import annotations

import numpy as np
from ase import Atoms


def central_difference(function, atoms: Atoms, h: float = 1e-4) -> np.ndarray:
    """d function(atoms) / d positions by central differences, per coordinate
    (error O(h²)); ``function`` maps Atoms to a float."""
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
