"""Committee: means, σ_U, its gradients, caching and input checks."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, PropertyNotImplementedError
from ase.calculators.emt import EMT
from ase.io import read, write
from ase.stress import voigt_6_to_full_3x3_stress

from hyperal.committee import Committee, committee_statistics, emt_committee
from tests.helpers import central_difference


def sigma_of(committee):
    return lambda atoms: committee.get_property("energy_uncertainty", atoms)


def test_sigma_gradient_matches_central_differences(cuni, committee):
    atoms = cuni
    assert len(atoms) == 32
    gradient = committee.get_property("energy_uncertainty_gradient", atoms)
    numeric = central_difference(sigma_of(committee), atoms, h=1e-4)
    # A non-trivial gradient: not zero and not parallel to the mean force
    # (which is what a committee of rescaled copies of one calculator gives).
    forces = committee.get_property("forces", atoms)
    assert np.abs(gradient).max() > 0.05
    cosine = (
        np.sum(gradient * forces) / np.linalg.norm(gradient) / np.linalg.norm(forces)
    )
    assert abs(cosine) < 0.99  # rescaled copies give exactly 1
    assert np.abs(gradient - numeric).max() < 1e-6


def test_results_are_member_means_and_spreads(cuni, committee):
    cuni.calc = committee
    cuni.get_potential_energy()
    results = committee.results
    energies = np.array([m.get_potential_energy(cuni) for m in committee.members])
    forces = np.array([m.get_forces(cuni) for m in committee.members])

    np.testing.assert_allclose(results["member_energies"], energies, rtol=0, atol=0)
    np.testing.assert_allclose(results["member_forces"], forces, rtol=0, atol=0)
    assert results["energy"] == pytest.approx(energies.mean(), abs=1e-12)
    assert results["free_energy"] == results["energy"]
    np.testing.assert_allclose(results["forces"], forces.mean(axis=0), atol=1e-12)
    assert results["energy_uncertainty"] == pytest.approx(np.std(energies), abs=1e-12)
    assert results["energy_uncertainty_per_atom"] == pytest.approx(
        np.std(energies) / 32, abs=1e-12
    )
    deviation = forces - forces.mean(axis=0)
    expected = np.sqrt(np.mean(np.sum(deviation**2, axis=2), axis=0))
    np.testing.assert_allclose(results["forces_uncertainty"], expected, atol=1e-12)
    assert results["forces_uncertainty"].shape == (32,)
    # `energies` stays ASE's per-atom key: this calculator does not claim it.
    assert "energies" not in results
    with pytest.raises(PropertyNotImplementedError):
        cuni.get_potential_energies()


def test_stress_mean_and_sigma_strain_derivative(cuni, committee):
    cuni.calc = committee
    stress = cuni.get_stress()
    member_stresses = np.array([m.get_stress(cuni) for m in committee.members])
    np.testing.assert_allclose(stress, member_stresses.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(committee.results["member_stresses"], member_stresses)

    # (1/V) dσ/dε by central differences of σ under a homogeneous strain.
    analytic = committee.results["energy_uncertainty_stress"]
    cell0, volume, h = cuni.get_cell(), cuni.get_volume(), 1e-5
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    numeric = np.zeros(6)
    for k, (i, j) in enumerate(voigt):
        values = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[i, j] += sign * h / 2  # symmetric: ε_ij = ε_ji
            strain[j, i] += sign * h / 2
            probe = cuni.copy()
            probe.set_cell(cell0 @ strain, scale_atoms=True)
            values.append(committee.get_property("energy_uncertainty", probe))
        numeric[k] = (values[0] - values[1]) / (2 * h * volume)
    assert np.abs(analytic).max() > 1e-4
    np.testing.assert_allclose(analytic, numeric, atol=1e-8)


class CountingEMT(EMT):
    """EMT that counts its calculate() calls."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = 0

    def calculate(self, *args, **kwargs):
        self.calls += 1
        super().calculate(*args, **kwargs)


def test_members_are_evaluated_once_per_configuration(cuni):
    members = [CountingEMT(), CountingEMT(asap_cutoff=True)]
    cuni.calc = Committee(members)
    cuni.get_potential_energy()
    cuni.get_forces()
    cuni.calc.get_property("energy_uncertainty_gradient", cuni)
    cuni.calc.get_property("forces_uncertainty", cuni)
    assert [m.calls for m in members] == [1, 1]
    cuni.get_stress()  # a new property: the members' caches serve it
    assert [m.calls for m in members] == [1, 1]
    cuni.positions[0, 0] += 0.01
    cuni.get_forces()
    cuni.get_potential_energy()
    assert [m.calls for m in members] == [2, 2]


def test_identical_members_give_zero_sigma_and_finite_gradient(cuni):
    committee = Committee([EMT(), EMT()])
    cuni.calc = committee
    cuni.get_forces()
    assert committee.results["energy_uncertainty"] == 0.0
    gradient = committee.results["energy_uncertainty_gradient"]
    assert np.all(np.isfinite(gradient))
    np.testing.assert_array_equal(gradient, 0.0)
    assert np.all(committee.results["forces_uncertainty"] == 0.0)


@pytest.mark.parametrize("sigma", [0.0, 1e-150, 1e-14, 1e-9, 1e-3])
def test_statistics_are_finite_and_bounded_as_sigma_vanishes(sigma):
    rng = np.random.default_rng(0)
    energies = np.array([-sigma, sigma])  # population std = sigma
    forces = rng.normal(size=(2, 5, 3))
    stats = committee_statistics(energies, forces, rng.normal(size=(2, 6)))
    assert stats.energy_uncertainty == pytest.approx(sigma, rel=1e-12, abs=0)
    for value in (stats.energy_uncertainty_gradient, stats.energy_uncertainty_stress):
        assert np.all(np.isfinite(value))
    # Cauchy–Schwarz bound: |∇σ| <= RMS over members of |dF| (all atoms).
    bound = np.sqrt(np.mean(np.sum((forces - forces.mean(0)) ** 2, axis=(1, 2))))
    assert np.linalg.norm(stats.energy_uncertainty_gradient) <= bound * (1 + 1e-12)


def test_statistics_gradient_is_exact_away_from_zero():
    """With σ >> ε the regularised gradient equals the textbook formula."""
    rng = np.random.default_rng(1)
    energies, forces = rng.normal(size=4), rng.normal(size=(4, 3, 3))
    stats = committee_statistics(energies, forces)
    d_e = energies - energies.mean()
    expected = -np.einsum("i,ijk->jk", d_e, forces - forces.mean(0)) / (
        4 * np.std(energies)
    )
    np.testing.assert_allclose(stats.energy_uncertainty_gradient, expected, rtol=1e-12)


def test_structure_with_committee_attached_can_be_written(tmp_path, cuni, committee):
    cuni.calc = committee
    cuni.get_stress()
    write(tmp_path / "c.xyz", cuni)
    back = read(tmp_path / "c.xyz")
    assert back.get_potential_energy() == pytest.approx(cuni.get_potential_energy())


# --- bad input -------------------------------------------------------------------


def test_committee_of_one_member_is_refused():
    with pytest.raises(ValueError, match="at least 2 members"):
        Committee([EMT()])


def test_the_same_member_twice_is_refused():
    emt = EMT()
    with pytest.raises(ValueError, match="distinct"):
        Committee([emt, emt])


def test_a_member_that_is_not_a_calculator_is_refused():
    with pytest.raises(TypeError, match="member 1"):
        Committee([EMT(), "EMT"])


def test_non_positive_regularisation_is_refused():
    with pytest.raises(ValueError, match="sigma_eps_eV"):
        Committee([EMT(), EMT()], sigma_eps_eV=0.0)


class DroppingEMT(EMT):
    """A broken member that loses the last atom's force."""

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results["forces"] = self.results["forces"][:-1]


def test_members_disagreeing_on_atom_count_are_refused(cuni):
    cuni.calc = Committee([EMT(), DroppingEMT()])
    with pytest.raises(ValueError, match=r"member 1 .*\(31, 3\) for 32 atoms"):
        cuni.get_potential_energy()


def test_statistics_refuse_inconsistent_shapes():
    with pytest.raises(ValueError, match="M >= 2"):
        committee_statistics(np.zeros(1), np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="forces must have shape"):
        committee_statistics(np.zeros(3), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="stresses must have shape"):
        committee_statistics(np.zeros(2), np.zeros((2, 2, 3)), np.zeros((2, 3, 3)))


def test_stress_is_not_offered_unless_every_member_gives_it():
    class NoStress(Calculator):
        implemented_properties = ["energy", "forces"]

    committee = Committee([EMT(), NoStress()])
    assert "stress" not in committee.implemented_properties
    assert "stress" in emt_committee(2, ["Cu"], rng=0).implemented_properties


def test_a_member_giving_a_3x3_stress_is_averaged_in_voigt_form(cuni):
    class Full3x3EMT(EMT):
        def calculate(self, *args, **kwargs):
            super().calculate(*args, **kwargs)
            self.results["stress"] = voigt_6_to_full_3x3_stress(self.results["stress"])

    committee = Committee([Full3x3EMT(), EMT()])
    np.testing.assert_allclose(committee.get_stress(cuni), EMT().get_stress(cuni))
