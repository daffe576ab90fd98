"""Homogeneous strains shared by derived structures and cell morphologies.

Conventions: a deformation gradient F maps cell rows ``new_cell = cell @ F.T``.
The von Mises (equivalent) strain of a symmetric strain tensor ε is
ε_vM = sqrt(2/3 · e:e) with e = ε − tr(ε)/3·I its deviatoric part; a
volume-preserving deformation F = expm(e) (det F = exp(tr e) = 1) has the
logarithmic strain e exactly.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from scipy.linalg import expm, logm


def von_mises(strain: np.ndarray) -> float:
    """Equivalent strain sqrt(2/3 e:e) of a symmetric 3×3 strain tensor."""
    strain = 0.5 * (np.asarray(strain) + np.asarray(strain).T)
    dev = strain - np.trace(strain) / 3.0 * np.eye(3)
    return float(np.sqrt(2.0 / 3.0 * np.sum(dev * dev)))


def deviatoric_strain(magnitude: float, rng: np.random.Generator) -> np.ndarray:
    """A random symmetric traceless strain whose von Mises strain is ``magnitude``
    (direction uniform on the 5-sphere of deviatoric tensors)."""
    g = rng.normal(size=(3, 3))
    dev = 0.5 * (g + g.T)
    dev -= np.trace(dev) / 3.0 * np.eye(3)
    norm = von_mises(dev)
    return dev * (magnitude / norm) if norm > 0 else np.zeros((3, 3))


def deformation(
    *,
    volumetric: float = 0.0,
    linear: float = 0.0,
    deviatoric: np.ndarray | None = None,
) -> np.ndarray:
    """F = s·expm(e): isotropic scale s from a volumetric strain (V'/V − 1) or a
    linear strain (L'/L − 1), times a volume-preserving deviatoric part."""
    scale = (1.0 + volumetric) ** (1.0 / 3.0) * (1.0 + linear)
    dev = np.zeros((3, 3)) if deviatoric is None else deviatoric
    return scale * expm(dev)


def deform(atoms: Atoms, f: np.ndarray) -> Atoms:
    """A copy of ``atoms`` with cell and positions mapped by F."""
    out = atoms.copy()
    out.set_cell(atoms.cell[:] @ np.asarray(f).T, scale_atoms=True)
    return out


def measured_strain(cell0: np.ndarray, cell1: np.ndarray) -> dict[str, float]:
    """Volumetric strain V1/V0 − 1 and von Mises strain of the logarithmic strain
    log(sqrt(FᵀF)) between two cells (rows are vectors)."""
    f = np.linalg.solve(cell0, cell1).T
    stretch = np.real(logm(f.T @ f)) / 2.0
    return {
        "volumetric": float(np.linalg.det(f) - 1.0),
        "von_mises": von_mises(stretch),
    }
