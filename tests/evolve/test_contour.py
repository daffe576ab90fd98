"""Contour exploration: energy held at the target, γ = 0 is ASE's CE, steering."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.contour_exploration import ContourExploration

from hyperal.evolve import ContourEvolver, SteeredContourExploration


def al108():
    return bulk("Al", "fcc", a=4.05, cubic=True).repeat(3)


def test_ce_holds_energy_at_reference_setting():
    """164 meV/atom above the relaxed energy of 3×3×3 fcc Al (docs/method.md §3)."""
    atoms = al108()
    result = ContourEvolver(calculator=EMT(), rng=0).run(atoms, steps=150)
    info = result.info
    assert result.status == "step_limit" and len(result) == 151
    assert info["energy_target_eV"] == pytest.approx(
        info["reference_energy_eV"] + 0.164 * len(atoms)
    )
    # a perfect lattice has no force to define the contour: it was rattled
    assert info["start_rattle_A"] == 0.02
    assert info["maxstep_A"] == pytest.approx(0.05 * math.sqrt(len(atoms)))
    error = (result.energies - info["energy_target_eV"]) / len(atoms) * 1e3
    assert abs(error[0]) > 100  # it starts far below the contour ...
    assert np.abs(error[50:]).max() < 2.0  # ... and holds it after warm-up


def test_gamma_zero_reproduces_ase_contour_exploration(cuni):
    kwargs = dict(maxstep=0.4, energy_target=-0.5, logfile=None)
    runs = []
    for cls in (ContourExploration, SteeredContourExploration):
        atoms = cuni.copy()
        atoms.calc = EMT()
        cls(atoms, rng=np.random.default_rng(5), **kwargs).run(30)
        runs.append(atoms.positions)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_evolver_gamma_zero_matches_ase_with_the_same_seed(cuni):
    result = ContourEvolver(
        calculator=EMT(), energy_target_eV=-0.5, maxstep_per_atom_A=0.05, rng=3
    ).run(cuni, steps=20)
    atoms = cuni.copy()
    atoms.calc = EMT()
    ContourExploration(
        atoms,
        maxstep=0.05 * math.sqrt(len(atoms)),
        energy_target=-0.5,
        rng=np.random.default_rng(3),
        logfile=None,
    ).run(20)
    np.testing.assert_allclose(result.frames[-1].positions, atoms.positions)


def test_steer_sets_the_biased_tangent(cuni, committee):
    atoms = cuni.copy()
    atoms.calc = committee
    atoms.set_velocities(np.random.default_rng(0).normal(size=(len(atoms), 3)))
    gamma = 0.3
    ce = SteeredContourExploration(atoms, gamma=gamma, logfile=None)
    forces = atoms.get_forces()
    v0 = atoms.get_velocities()
    ce.steer(forces)
    v1 = atoms.get_velocities()

    n = forces / np.linalg.norm(forces)
    grad = committee.results["energy_uncertainty_gradient"]
    g_perp = grad - np.vdot(grad, n) * n
    t = v0 - np.vdot(v0, n) * n
    expected = gamma * g_perp / np.linalg.norm(g_perp) + (
        1 - gamma
    ) * t / np.linalg.norm(t)
    expected *= np.linalg.norm(v0) / np.linalg.norm(expected)
    np.testing.assert_allclose(v1, expected, atol=1e-12)
    assert abs(np.vdot(v1, n)) < 1e-10  # still on the contour's tangent space


def test_steered_ce_reaches_higher_uncertainty(cuni, committee):
    sigma = {}
    for gamma in (0.0, 0.7):
        result = ContourEvolver(
            calculator=committee,
            gamma=gamma,
            reference="start",
            energy_above_meV_atom=50.0,
            rng=11,
        ).run(cuni, steps=60)
        assert result.status == "step_limit"
        sigma[gamma] = result.sigmas[30:].mean()
    assert sigma[0.7] > sigma[0.0]


def test_ce_validation(committee, cuni):
    with pytest.raises(ValueError, match="gamma"):
        ContourEvolver(calculator=committee, gamma=1.5)
    with pytest.raises(ValueError, match="alpha"):
        ContourEvolver(calculator=committee, alpha=1.0)
    with pytest.raises(ValueError, match="energy_uncertainty_gradient"):
        ContourEvolver(calculator=EMT(), gamma=0.5).run(cuni, steps=1)
    with pytest.raises(ValueError, match="use_tangent_curvature"):
        atoms = cuni.copy()
        atoms.calc = committee
        SteeredContourExploration(atoms, gamma=0.5, use_tangent_curvature=True)
