"""Dimer saddle search on a Cu vacancy hop (EMT)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.mep.dimer import DimerControl
from ase.optimize import FIRE

from hyperal.evolve import DimerEvolver


@pytest.fixture(scope="module")
def vacancy_hop():
    """32-site fcc Cu with the atom at the origin removed; the nearest atom's
    hop into the vacancy: (initial state, midpoint, path mode, initial energy)."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    del atoms[0]
    hopper = int(np.argmin(np.linalg.norm(atoms.positions, axis=1)))
    midpoint = atoms.copy()
    midpoint.positions[hopper] *= 0.5
    mode = np.zeros((len(atoms), 3))
    mode[hopper] = -atoms.positions[hopper]
    initial = atoms.copy()
    initial.calc = EMT()
    FIRE(initial, logfile=None).run(fmax=0.01)
    return initial, midpoint, mode, hopper, initial.get_potential_energy()


def test_dimer_from_midpoint_with_path_mode_finds_the_saddle(vacancy_hop):
    _, midpoint, mode, hopper, e_initial = vacancy_hop
    result = DimerEvolver(calculator=EMT(), mode=mode, rng=0).run(midpoint, steps=100)
    assert result.status == "converged", result.reason
    assert result.info["curvature"] < 0
    barrier = result.frames[-1].energy - e_initial
    assert 0.4 < barrier < 1.2  # EMT Cu vacancy migration: ~0.76 eV
    assert result.info["saddle_energy_eV"] == pytest.approx(result.frames[-1].energy)
    # the recorded frame is the dimer centre, not one of its images
    probe = result.atoms(-1)
    probe.calc = EMT()
    assert result.frames[-1].energy == pytest.approx(probe.get_potential_energy())
    assert np.linalg.norm(probe.get_forces(), axis=1).max() < 0.05


def test_dimer_from_a_random_local_displacement(vacancy_hop):
    _, midpoint, _, hopper, e_initial = vacancy_hop
    evolver = DimerEvolver(
        calculator=EMT(),
        displacement_center=np.int64(hopper),  # numpy ints are accepted too
        displacement_radius_A=3.0,
        rng=2,
    )
    first, again = evolver.run(midpoint, steps=150), evolver.run(midpoint, steps=150)
    assert first.status == "converged", first.reason
    assert first.info["curvature"] < 0
    np.testing.assert_array_equal(
        first.frames[-1].positions, again.frames[-1].positions
    )


def test_dimer_settings_do_not_leak_between_searches(vacancy_hop):
    defaults = dict(DimerControl.parameters)
    _, midpoint, mode, *_ = vacancy_hop
    evolver = DimerEvolver(
        calculator=EMT(), mode=mode, dimer_separation_A=0.02, maximum_translation_A=0.2
    )
    control = evolver.control()
    assert control.get_parameter("dimer_separation") == 0.02
    control.set_parameter("trial_angle", 0.1)
    assert DimerControl.parameters == defaults
    assert evolver.control().get_parameter("trial_angle") == pytest.approx(np.pi / 4)
    evolver.run(midpoint, steps=2)
    assert DimerControl.parameters == defaults


def test_dimer_validation(vacancy_hop):
    _, midpoint, mode, *_ = vacancy_hop
    with pytest.raises(ValueError, match="mode"):
        DimerEvolver(calculator=EMT(), mode=np.zeros((31, 3)))
    with pytest.raises(ValueError, match="mode has shape"):
        DimerEvolver(calculator=EMT(), mode=mode[:5]).run(midpoint, steps=1)
    with pytest.raises(ValueError, match="displacement_radius_A"):
        DimerEvolver(calculator=EMT(), displacement_center=3)
    with pytest.raises(ValueError, match="displacement_center"):
        DimerEvolver(calculator=EMT(), displacement_center=[1.0, 2.0])
    with pytest.raises(ValueError, match="dimer_separation_A"):
        DimerEvolver(calculator=EMT(), dimer_separation_A=0)


def test_dimer_random_start_displaces_every_atom_without_warning(vacancy_hop):
    _, midpoint, *_ = vacancy_hop
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = DimerEvolver(calculator=EMT(), displacement_std_A=0.05, rng=1).run(
            midpoint, steps=2
        )
    moved = np.linalg.norm(result.frames[0].positions - midpoint.positions, axis=1)
    assert (moved > 0).all() and moved.mean() < 0.05 * 3
