"""AdversarialBias: exact derivatives, α = 0 identity, and ASE dynamics on it."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.emt import EMT
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.constraints import FixCom
from ase.filters import FrechetCellFilter
from ase.md.contour_exploration import ContourExploration
from ase.md.langevin import Langevin
from ase.optimize import FIRE

from hyperal.committee import AdversarialBias, Committee, emt_committee
from tests.helpers import rattled_cu


def test_biased_forces_are_minus_gradient_of_biased_energy(cuni, committee):
    cuni.calc = AdversarialBias(committee, alpha=2.0)
    forces = cuni.get_forces()
    numeric = calculate_numerical_forces(cuni, eps=1e-4)
    # The bias changes the forces by more than the tolerance by far.
    assert np.abs(forces - committee.get_forces(cuni)).max() > 0.1
    assert np.abs(forces - numeric).max() < 1e-6


def test_biased_stress_is_strain_derivative_of_biased_energy(cuni, committee):
    cuni.calc = AdversarialBias(committee, alpha=2.0)
    stress = cuni.get_stress()
    numeric = calculate_numerical_stress(cuni, eps=1e-5)
    assert np.abs(stress - committee.get_stress(cuni)).max() > 1e-4
    np.testing.assert_allclose(stress, numeric, atol=1e-8)


def test_biased_energy_and_passthrough(cuni, committee):
    alpha = 1.5
    bias = AdversarialBias(committee, alpha=alpha)
    cuni.calc = bias
    energy = cuni.get_potential_energy()
    sigma = bias.results["energy_uncertainty"]
    assert sigma == committee.get_property("energy_uncertainty", cuni)
    assert energy == pytest.approx(committee.get_potential_energy(cuni) - alpha * sigma)
    assert bias.results["free_energy"] == energy
    assert cuni.get_potential_energy(force_consistent=True) == energy
    np.testing.assert_array_equal(
        bias.results["committee_forces"], committee.get_forces(cuni)
    )
    for key in (
        "member_energies",
        "member_forces",
        "energy_uncertainty_gradient",
        "energy_uncertainty_per_atom",
        "forces_uncertainty",
    ):
        np.testing.assert_array_equal(bias.results[key], committee.results[key])


def test_alpha_zero_reproduces_the_committee_exactly(cuni, committee):
    bias = AdversarialBias(committee, alpha=0.0)
    biased = cuni.copy()
    biased.calc = bias
    assert biased.get_potential_energy() == committee.get_potential_energy(cuni)
    np.testing.assert_array_equal(biased.get_forces(), committee.get_forces(cuni))
    np.testing.assert_array_equal(biased.get_stress(), committee.get_stress(cuni))


def test_changing_alpha_discards_cached_results(cuni, committee):
    bias = AdversarialBias(committee, alpha=0.0)
    cuni.calc = bias
    e0 = cuni.get_potential_energy()
    bias.alpha = 1.0
    sigma = committee.get_property("energy_uncertainty", cuni)
    assert cuni.get_potential_energy() == pytest.approx(e0 - sigma)


def test_biased_cell_relaxation_ends_at_higher_sigma_than_unbiased():
    """Same start, same optimizer: the bias finds a minimum of Ē − α·σ_U where
    the committee disagrees more, at a physical geometry (no overlapping atoms)."""
    sigma, d_min = {}, {}
    for alpha in (0.0, 2.0):
        atoms = rattled_cu()
        bias = AdversarialBias(emt_committee(4, ["Cu"], rng=0), alpha=alpha)
        atoms.calc = bias
        assert FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=0.02, steps=300)
        sigma[alpha] = bias.get_property("energy_uncertainty", atoms)
        distances = atoms.get_all_distances(mic=True)
        d_min[alpha] = distances[np.triu_indices(len(atoms), 1)].min()
    assert sigma[2.0] > 2 * sigma[0.0]
    assert min(d_min.values()) > 2.3  # Cu nearest-neighbour distance ≈ 2.55 Å


def test_langevin_md_runs_on_the_bias(cuni, committee):
    cuni.calc = AdversarialBias(committee, alpha=1.0)
    cuni.set_constraint(FixCom())
    md = Langevin(
        cuni,
        timestep=2 * units.fs,
        temperature_K=600,
        friction=0.02,
        fixcm=False,
        rng=np.random.default_rng(0),
    )
    start = cuni.get_positions()
    md.run(20)
    assert np.isfinite(cuni.get_potential_energy())
    assert np.abs(cuni.get_positions() - start).max() > 0.01  # it moved


def test_nve_md_on_the_bias_conserves_the_biased_energy(cuni, committee):
    """The bias's forces are minus the gradient of its energy Ē − α·σ_U: in
    NVE the biased energy plus the kinetic energy is conserved (a force
    with the σ term's sign or size wrong drifts by orders of magnitude)."""
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    cuni.calc = AdversarialBias(committee, alpha=2.0)
    thermalize_momenta(cuni, temperature_K=600, rng=np.random.default_rng(1))
    total = []
    md = VelocityVerlet(cuni, timestep=0.5 * units.fs)
    md.attach(lambda: total.append(cuni.get_total_energy()), interval=1)
    md.run(60)
    kinetic = cuni.get_kinetic_energy()
    drift = max(total) - min(total)
    # measured: a drift of 9e-5 eV against 2.4 eV of kinetic energy
    assert kinetic > 0.01 and drift < 1e-3 * kinetic, (drift, kinetic)


def test_contour_exploration_runs_on_the_bias():
    atoms = rattled_cu()
    atoms.calc = AdversarialBias(emt_committee(4, ["Cu"], rng=0), alpha=1.0)
    target = atoms.get_potential_energy()
    ce = ContourExploration(
        atoms,
        maxstep=0.5,
        energy_target=target,
        rng=np.random.default_rng(0),
        logfile=None,
    )
    energies = []
    ce.attach(lambda: energies.append(atoms.get_potential_energy()), interval=1)
    ce.run(20)
    assert len(energies) == 21
    # CE holds the biased energy near its target (here within 20 meV/atom).
    assert np.abs(np.array(energies) - target).max() / len(atoms) < 0.02
    assert not np.allclose(atoms.positions, rattled_cu().positions)


# --- bad input -------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [-0.1, float("nan"), float("inf")])
def test_negative_or_non_finite_alpha_is_refused(committee, alpha):
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        AdversarialBias(committee, alpha=alpha)
    bias = AdversarialBias(committee, alpha=1.0)
    with pytest.raises(ValueError, match="alpha"):
        bias.alpha = alpha


def test_a_calculator_without_uncertainty_is_refused():
    with pytest.raises(ValueError, match="energy_uncertainty"):
        AdversarialBias(EMT(), alpha=1.0)


def test_stress_is_not_offered_when_the_committee_has_none(cuni):
    class NoStressEMT(EMT):
        implemented_properties = ["energy", "free_energy", "forces"]

    bias = AdversarialBias(Committee([NoStressEMT(), EMT()]), alpha=1.0)
    assert "stress" not in bias.implemented_properties
    cuni.calc = bias
    cuni.get_forces()
    with pytest.raises(PropertyNotImplementedError):
        cuni.get_stress()
