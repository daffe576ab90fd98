"""The committee results dictionary: one builder for every committee calculator.

:class:`hyperal.Committee` (any ASE calculators as members), the built-in BPNN
committee and the MACE committee all hand their member predictions to
:func:`committee_results`, so the keys, shapes and units that the bias, the
frame selection and the metrics read are written in one place:

==============================  ==========  =======  ==================================
key                             shape       unit     meaning
==============================  ==========  =======  ==================================
``energy``, ``free_energy``     scalar      eV       Ē, the mean member energy
``forces``                      (N, 3)      eV/Å     F̄, the mean member forces
``member_energies``             (M,)        eV       member energies
``energy_uncertainty``          scalar      eV       σ_U, population std of the members
``energy_uncertainty_per_atom`` scalar      eV/atom  σ_U / N
``energy_uncertainty_gradient`` (N, 3)      eV/Å     ∇σ_U with respect to positions
``member_forces``               (M, N, 3)   eV/Å     member forces (when computed)
``forces_uncertainty``          (N,)        eV/Å     per-atom force disagreement
``stress``                      (6,)        eV/Å³    mean stress, Voigt (when offered)
``member_stresses``             (M, 6)      eV/Å³    member stresses (when computed)
``energy_uncertainty_stress``   (6,)        eV/Å³    (1/V) ∂σ_U/∂ε (when offered)
==============================  ==========  =======  ==================================

A one-member model gives the plain keys only (no spread, no uncertainty).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperal.committee.statistics import (
    SIGMA_EPS_EV,
    committee_statistics,
    forces_disagreement,
)


def energy_spread(member_energies: np.ndarray) -> float:
    """σ_U = sqrt(mean_i (E_i − Ē)²), the population standard deviation (eV)."""
    e = np.asarray(member_energies, dtype=float)
    return float(np.sqrt(np.mean((e - e.mean()) ** 2)))


def committee_results(
    member_energies: np.ndarray,
    forces: np.ndarray,
    *,
    energy_uncertainty_gradient: np.ndarray | None = None,
    member_forces: np.ndarray | None = None,
    stress: np.ndarray | None = None,
    member_stresses: np.ndarray | None = None,
    energy_uncertainty_stress: np.ndarray | None = None,
) -> dict[str, Any]:
    """The results dict of a committee calculator (keys in the module table).

    Parameters
    ----------
    member_energies : array, shape (M,)
        Member energies (eV); Ē and σ_U are computed here.
    forces : array, shape (N, 3)
        Mean forces (eV/Å).
    energy_uncertainty_gradient : array, shape (N, 3)
        ∇σ_U (eV/Å); required when M >= 2.
    member_forces : array, shape (M, N, 3), optional
        Adds ``member_forces`` and ``forces_uncertainty``.
    stress, member_stresses, energy_uncertainty_stress : arrays, optional
        Voigt stresses (eV/Å³), added as given.
    """
    energies = np.asarray(member_energies, dtype=float)
    forces = np.asarray(forces, dtype=float)
    energy = float(energies.mean())
    results: dict[str, Any] = {
        "energy": energy,
        "free_energy": energy,
        "forces": forces,
        "member_energies": energies,
    }
    if len(energies) > 1:
        if energy_uncertainty_gradient is None:
            raise ValueError("a committee of M >= 2 needs energy_uncertainty_gradient")
        sigma = energy_spread(energies)
        results["energy_uncertainty"] = sigma
        results["energy_uncertainty_per_atom"] = sigma / max(len(forces), 1)
        results["energy_uncertainty_gradient"] = np.asarray(
            energy_uncertainty_gradient, dtype=float
        )
    if member_forces is not None:
        member_forces = np.asarray(member_forces, dtype=float)
        results["member_forces"] = member_forces
        results["forces_uncertainty"] = forces_disagreement(member_forces)
    if stress is not None:
        results["stress"] = np.asarray(stress, dtype=float)
    if member_stresses is not None:
        results["member_stresses"] = np.asarray(member_stresses, dtype=float)
    if energy_uncertainty_stress is not None and len(energies) > 1:
        results["energy_uncertainty_stress"] = np.asarray(
            energy_uncertainty_stress, dtype=float
        )
    return results


def member_results(
    member_energies: np.ndarray,
    member_forces: np.ndarray,
    member_stresses: np.ndarray | None = None,
    *,
    sigma_eps_eV: float = SIGMA_EPS_EV,
) -> dict[str, Any]:
    """:func:`committee_results` from M full member predictions (energies,
    forces, optionally Voigt stresses), with ∇σ_U from
    :func:`~hyperal.committee.committee.committee_statistics`."""
    stats = committee_statistics(
        member_energies, member_forces, member_stresses, sigma_eps_eV=sigma_eps_eV
    )
    return committee_results(
        member_energies,
        stats.forces,
        energy_uncertainty_gradient=stats.energy_uncertainty_gradient,
        member_forces=member_forces,
        stress=stats.stress,
        member_stresses=member_stresses,
        energy_uncertainty_stress=stats.energy_uncertainty_stress,
    )
