"""Errors of a model against reference labels: energies, forces, force angles.

Energies are compared per atom (eV/atom), forces per Cartesian component (eV/Å),
and force directions by the force-vector angle θ_F = arccos(F·F_ref /
(|F| |F_ref|)) in degrees. Near saddle points and minima |F| → 0, so force
magnitudes say little there while θ_F stays diagnostic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

#: Force norms below this (eV/Å) count as zero vectors in :func:`force_angles`.
ZERO_FORCE_EV_A = 1e-8


@dataclass(frozen=True, kw_only=True)
class ErrorStats:
    """Summary of absolute errors.

    Attributes
    ----------
    mae, rmse, max : float
        Mean absolute, root-mean-square and largest absolute error, in ``unit``.
    count : int
        Number of errors summarised (structures, force components or atoms).
    unit : str
        Unit of ``mae``, ``rmse`` and ``max``.
    """

    mae: float
    rmse: float
    max: float
    count: int
    unit: str

    def scaled(self, factor: float, unit: str) -> ErrorStats:
        """The same statistics times ``factor``, e.g. ``scaled(1000, "meV/atom")``."""
        return ErrorStats(
            mae=self.mae * factor,
            rmse=self.rmse * factor,
            max=self.max * factor,
            count=self.count,
            unit=unit,
        )


def _stats(errors: np.ndarray, unit: str) -> ErrorStats:
    errors = np.abs(errors.ravel())
    return ErrorStats(
        mae=float(errors.mean()),
        rmse=float(np.sqrt(np.mean(errors**2))),
        max=float(errors.max()),
        count=int(errors.size),
        unit=unit,
    )


def _finite_array(name: str, values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf")
    return array


def _force_array(name: str, forces: ArrayLike | Sequence[ArrayLike]) -> np.ndarray:
    """(N, 3) array from one array or a sequence of per-structure arrays."""
    if isinstance(forces, np.ndarray):
        array = forces
    else:
        parts = [np.asarray(f, dtype=float).reshape(-1, 3) for f in forces]
        array = np.concatenate(parts) if parts else np.empty((0, 3))
    array = _finite_array(name, array)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {array.shape}")
    return array


def _matching_forces(predicted, reference) -> tuple[np.ndarray, np.ndarray]:
    predicted = _force_array("predicted", predicted)
    reference = _force_array("reference", reference)
    if predicted.shape != reference.shape:
        raise ValueError(
            f"predicted and reference forces differ in shape: "
            f"{predicted.shape} vs {reference.shape}"
        )
    return predicted, reference


def energy_errors(
    predicted: ArrayLike, reference: ArrayLike, n_atoms: ArrayLike
) -> ErrorStats:
    """Per-atom energy errors (eV/atom) over structures.

    Parameters
    ----------
    predicted, reference : array, shape (S,)
        Total energies of S structures (eV).
    n_atoms : int or array of int, shape (S,)
        Number of atoms of each structure (> 0).
    """
    predicted = _finite_array("predicted", predicted).ravel()
    reference = _finite_array("reference", reference).ravel()
    if predicted.shape != reference.shape:
        raise ValueError(
            f"predicted and reference energies differ in length: "
            f"{predicted.size} vs {reference.size}"
        )
    n_atoms = np.broadcast_to(np.asarray(n_atoms), predicted.shape)
    if np.any(n_atoms <= 0):
        raise ValueError("n_atoms must be > 0 for every structure")
    return _stats((predicted - reference) / n_atoms, "eV/atom")


def force_errors(
    predicted: ArrayLike | Sequence[ArrayLike],
    reference: ArrayLike | Sequence[ArrayLike],
) -> ErrorStats:
    """Force component errors (eV/Å) over all atoms and Cartesian components.

    ``predicted`` and ``reference`` are (N, 3) arrays or sequences of
    per-structure (N_i, 3) arrays in the same order.
    """
    predicted, reference = _matching_forces(predicted, reference)
    return _stats(predicted - reference, "eV/Å")


def force_angles(
    predicted: ArrayLike | Sequence[ArrayLike],
    reference: ArrayLike | Sequence[ArrayLike],
    *,
    zero_tol_eV_A: float = ZERO_FORCE_EV_A,
) -> np.ndarray:
    """Force-vector angle error θ_F per atom, in degrees (0 … 180).

    θ_F = arccos(F·F_ref / (|F| |F_ref|)), with the cosine clipped to [−1, 1]
    against rounding. The angle is undefined for a zero vector; the rule is:

    - both |F| and |F_ref| below ``zero_tol_eV_A``: θ_F = 0 (they agree that
      there is no force);
    - exactly one of them below it: θ_F = 90°, the mean angle between a fixed
      direction and a random one, i.e. a prediction that carries no
      directional information.

    So the result never contains NaN.

    Parameters
    ----------
    predicted, reference : (N, 3) arrays or sequences of (N_i, 3) arrays
        Forces (eV/Å).
    zero_tol_eV_A : float
        Norm below which a force counts as zero (eV/Å), >= 0.
    """
    if not zero_tol_eV_A >= 0:
        raise ValueError(f"zero_tol_eV_A must be >= 0, got {zero_tol_eV_A}")
    predicted, reference = _matching_forces(predicted, reference)
    norm_p = np.linalg.norm(predicted, axis=1)
    norm_r = np.linalg.norm(reference, axis=1)
    zero_p = norm_p <= zero_tol_eV_A
    zero_r = norm_r <= zero_tol_eV_A
    both = ~zero_p & ~zero_r
    cosine = np.zeros(len(predicted))  # 90° where exactly one vector is zero
    cosine[zero_p & zero_r] = 1.0
    cosine[both] = np.einsum("ij,ij->i", predicted[both], reference[both]) / (
        norm_p[both] * norm_r[both]
    )
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def force_angle_errors(
    predicted: ArrayLike | Sequence[ArrayLike],
    reference: ArrayLike | Sequence[ArrayLike],
    *,
    zero_tol_eV_A: float = ZERO_FORCE_EV_A,
) -> ErrorStats:
    """Summary (degrees) of :func:`force_angles` over all atoms."""
    angles = force_angles(predicted, reference, zero_tol_eV_A=zero_tol_eV_A)
    return _stats(angles, "deg")


def uncertainty_rank_correlation(sigma: ArrayLike, errors: ArrayLike) -> float:
    """Spearman rank correlation between predicted uncertainties and absolute
    true errors (1: σ orders the errors perfectly, 0: no relation); NaN for
    fewer than 3 values or a constant input."""
    # lazy: scipy.stats takes seconds to load; only this needs it
    from scipy.stats import spearmanr

    s = np.asarray(sigma, dtype=float).ravel()
    e = np.abs(np.asarray(errors, dtype=float).ravel())
    if len(s) != len(e):
        raise ValueError(f"{len(s)} uncertainties for {len(e)} errors")
    if len(s) < 3 or np.ptp(s) == 0 or np.ptp(e) == 0:
        return float("nan")
    return float(spearmanr(s, e).statistic)
