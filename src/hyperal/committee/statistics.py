"""The committee's statistics from its members' energies, forces and
stresses: the means, σ_U and its exact gradient (and strain derivative), the
per-atom force disagreement — the numbers every committee-like calculator
(:class:`~hyperal.committee.Committee`, the BPNN and MACE committees)
reports under the keys :data:`UNCERTAINTY_KEYS`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default regularisation of the spread (eV) used in the gradient denominator.
SIGMA_EPS_EV = 1e-8

#: The uncertainty keys a committee-like calculator offers as properties.
UNCERTAINTY_KEYS = (
    "member_energies",
    "member_forces",
    "energy_uncertainty",
    "energy_uncertainty_per_atom",
    "energy_uncertainty_gradient",
    "forces_uncertainty",
)

#: The extra keys offered when every member gives stress.
STRESS_KEYS = ("stress", "member_stresses", "energy_uncertainty_stress")


@dataclass(frozen=True, kw_only=True)
class CommitteeStatistics:
    """Means and spreads of M member predictions for one structure.

    Attributes
    ----------
    energy : float
        Mean member energy Ē (eV).
    forces : ndarray, shape (N, 3)
        Mean member forces F̄ (eV/Å).
    energy_uncertainty : float
        σ_U = sqrt(mean_i (E_i − Ē)²), the population standard deviation (eV).
    energy_uncertainty_gradient : ndarray, shape (N, 3)
        ∇σ_U with respect to the positions (eV/Å), regularised as σ → 0 (see
        :func:`committee_statistics`).
    forces_uncertainty : ndarray, shape (N,)
        Per-atom force disagreement sqrt(mean_i |F_i,a − F̄_a|²) (eV/Å): the root
        mean square over members of the deviation of each atom's force vector from
        the committee mean.
    stress, energy_uncertainty_stress : ndarray, shape (6,) or None
        Mean member stress and the stress-like strain derivative of σ_U,
        (1/V) ∂σ_U/∂ε, both in Voigt order (eV/Å³); ``None`` without stresses.
    """

    energy: float
    forces: np.ndarray
    energy_uncertainty: float
    energy_uncertainty_gradient: np.ndarray
    forces_uncertainty: np.ndarray
    stress: np.ndarray | None = None
    energy_uncertainty_stress: np.ndarray | None = None


def forces_disagreement(member_forces: np.ndarray) -> np.ndarray:
    """Per-atom force disagreement sqrt(mean_i |F_i,a − F̄_a|²), (M, N, 3) -> (N,)."""
    deviation = member_forces - member_forces.mean(axis=0)
    return np.sqrt(np.mean(np.sum(deviation**2, axis=2), axis=0))


def committee_statistics(
    energies: np.ndarray,
    forces: np.ndarray,
    stresses: np.ndarray | None = None,
    *,
    sigma_eps_eV: float = SIGMA_EPS_EV,
) -> CommitteeStatistics:
    """Means, σ_U and its derivatives from member energies, forces and stresses.

    With dE_i = E_i − Ē and dF_i = F_i − F̄, differentiating
    σ_U = sqrt(mean_i dE_i²) gives

        ∇σ_U = −1/(M·σ_U) · Σ_i dE_i · dF_i            (forces are −∇E)

    and, for a strain ε of the cell with volume V and Voigt stresses S_i,

        (1/V) ∂σ_U/∂ε = 1/(M·σ_U) · Σ_i dE_i · (S_i − S̄).

    σ_U is not differentiable where it vanishes (like |x| at 0). The derivatives
    are therefore those of the smooth sqrt(σ_U² + ε²), ε = ``sigma_eps_eV``: they
    equal σ_U's to a relative error ε²/(2σ_U²), vanish at σ_U = 0 instead of
    0/0, and are bounded by the force disagreement (Cauchy–Schwarz), so they are
    never NaN or inf for finite inputs.

    Parameters
    ----------
    energies : array, shape (M,)
        Member energies (eV).
    forces : array, shape (M, N, 3)
        Member forces (eV/Å).
    stresses : array, shape (M, 6), optional
        Member stresses in Voigt order (eV/Å³).
    sigma_eps_eV : float
        Regularisation ε of the spread in the derivative denominators (eV).

    Returns
    -------
    CommitteeStatistics
    """
    energies = np.asarray(energies, dtype=float)
    forces = np.asarray(forces, dtype=float)
    if energies.ndim != 1 or len(energies) < 2:
        raise ValueError(
            f"energies must have shape (M,) with M >= 2, got {energies.shape}"
        )
    m = len(energies)
    if forces.ndim != 3 or forces.shape[0] != m or forces.shape[2] != 3:
        raise ValueError(
            f"forces must have shape ({m}, N, 3) to match {m} energies, "
            f"got {forces.shape}"
        )
    if not sigma_eps_eV > 0:
        raise ValueError(f"sigma_eps_eV must be > 0, got {sigma_eps_eV}")

    energy = float(energies.mean())
    d_e = energies - energy
    sigma = float(np.sqrt(np.mean(d_e**2)))
    denominator = m * np.sqrt(sigma**2 + sigma_eps_eV**2)

    mean_forces = forces.mean(axis=0)
    d_f = forces - mean_forces
    gradient = -np.einsum("i,ijk->jk", d_e, d_f) / denominator
    forces_uncertainty = forces_disagreement(forces)

    stress = stress_gradient = None
    if stresses is not None:
        stresses = np.asarray(stresses, dtype=float)
        if stresses.shape != (m, 6):
            raise ValueError(
                f"stresses must have shape ({m}, 6) (Voigt), got {stresses.shape}"
            )
        stress = stresses.mean(axis=0)
        stress_gradient = d_e @ (stresses - stress) / denominator

    return CommitteeStatistics(
        energy=energy,
        forces=mean_forces,
        energy_uncertainty=sigma,
        energy_uncertainty_gradient=gradient,
        forces_uncertainty=forces_uncertainty,
        stress=stress,
        energy_uncertainty_stress=stress_gradient,
    )
