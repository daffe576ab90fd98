"""MD and relaxation evolvers, the recorded frames, and clean ends on blow-up."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT

from hyperal.evolve import MDEvolver, RelaxEvolver, shortest_distance
from hyperal.evolve.frames import DistanceTracker
from tests.helpers import rattled_cu


class NaNAfter(EMT):
    """EMT that returns NaN forces from its ``n``-th calculation on."""

    def __init__(self, n: int, value: float = math.nan):
        super().__init__()
        self.n, self.value, self.calls = n, value, 0

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.calls += 1
        if self.calls >= self.n:
            self.results["forces"] = np.full_like(self.results["forces"], self.value)


class RaisesAfter(EMT):
    def __init__(self, n: int):
        super().__init__()
        self.n, self.calls = n, 0

    def calculate(self, *args, **kwargs):
        self.calls += 1
        if self.calls >= self.n:
            raise RuntimeError("SCF did not converge")
        super().calculate(*args, **kwargs)


def test_frames_record_the_committee_view(cuni, committee):
    result = MDEvolver(calculator=committee, temperature_K=300, rng=0).run(
        cuni, steps=10
    )
    assert result.status == "step_limit" and result.steps == 10
    assert [f.step for f in result.frames] == list(range(11))
    np.testing.assert_array_equal(result.frames[0].positions, cuni.positions)
    frame = result.frames[-1]
    probe = frame.to_atoms()
    probe.calc = committee
    assert frame.energy == pytest.approx(probe.get_potential_energy(), abs=1e-10)
    assert frame.sigma == pytest.approx(
        committee.get_property("energy_uncertainty", probe), abs=1e-10
    )
    forces = probe.get_forces()
    assert frame.max_force == pytest.approx(np.linalg.norm(forces, axis=1).max())
    assert frame.min_distance == pytest.approx(
        probe.get_all_distances(mic=True)[np.triu_indices(len(probe), 1)].min()
    )
    assert probe.info["energy_uncertainty"] == frame.sigma
    assert frame.sigma_per_atom == pytest.approx(frame.sigma / 32)


def test_biased_frames_report_the_unbiased_committee(cuni, committee):
    result = MDEvolver(calculator=committee, alpha=2.0, rng=0).run(cuni, steps=3)
    probe = result.atoms(-1)
    probe.calc = committee
    assert result.frames[-1].energy == pytest.approx(probe.get_potential_energy())


def test_record_every_keeps_start_and_last(cuni):
    result = MDEvolver(calculator=EMT(), record_every=4, rng=0).run(cuni, steps=10)
    assert [f.step for f in result.frames] == [0, 4, 8, 10]


def test_run_leaves_the_input_alone_and_repeats_with_an_int_seed(cuni):
    before = cuni.positions.copy()
    evolver = MDEvolver(calculator=EMT(), temperature_K=500, rng=4)
    a, b = evolver.run(cuni, steps=5), evolver.run(cuni, steps=5)
    np.testing.assert_array_equal(cuni.positions, before)
    assert cuni.calc is None
    np.testing.assert_array_equal(a.frames[-1].positions, b.frames[-1].positions)
    other = MDEvolver(calculator=EMT(), temperature_K=500, rng=5).run(cuni, steps=5)
    assert not np.allclose(other.frames[-1].positions, a.frames[-1].positions)


def test_nve_conserves_total_energy(cuni):
    result = MDEvolver(
        calculator=EMT(), ensemble="nve", temperature_K=600, timestep_fs=1.0, rng=1
    ).run(cuni, steps=40)
    potential = result.energies
    kinetic = np.array([f.kinetic_energy for f in result.frames])
    assert kinetic[0] > 0.5 * 1.5 * 32 * 600 * 8.617e-5  # thermalised at start
    assert np.ptp(potential) > 0.1  # energy flows between the two ...
    assert np.ptp(potential + kinetic) < 0.01 * np.ptp(potential)  # ... conserved


def test_biased_md_reaches_higher_uncertainty(cuni, committee):
    sigma = {}
    for alpha in (0.0, 1.0):
        result = MDEvolver(calculator=committee, alpha=alpha, rng=11).run(
            cuni, steps=60
        )
        sigma[alpha] = result.sigmas[30:].mean()
    assert sigma[1.0] > sigma[0.0]


def test_relax_converges_and_bias_raises_final_uncertainty(cuni, committee):
    final = {}
    for alpha in (0.0, 2.0):
        result = RelaxEvolver(
            calculator=committee, alpha=alpha, fmax_eV_A=0.01, rng=0
        ).run(cuni, steps=300)
        assert result.status == "converged", result.reason
        final[alpha] = result.frames[-1].sigma
    assert final[2.0] > final[0.0] + 0.05


def test_relax_with_cell_changes_the_cell(cuni):
    strained = cuni.copy()
    strained.set_cell(strained.cell * 1.03, scale_atoms=True)
    result = RelaxEvolver(calculator=EMT(), relax_cell=True, fmax_eV_A=0.02).run(
        strained, steps=200
    )
    assert result.status == "converged"
    assert result.frames[-1].cell[0, 0] < strained.cell[0, 0]
    with pytest.raises(ValueError, match="relax_cell"):
        RelaxEvolver(calculator=EMT(), relax_cell=True).run(
            Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]]), steps=1
        )


def test_strong_bias_explodes_cleanly(cuni, committee):
    result = RelaxEvolver(calculator=committee, alpha=10.0, rng=0).run(cuni, steps=200)
    assert result.status == "exploded"
    assert "blowup" in result.reason
    assert result.steps < 200 and result.frames[-1].step == result.steps


@pytest.mark.parametrize(
    ("calc", "status", "words"),
    [
        (NaNAfter(4), "exploded", "non-finite"),
        (NaNAfter(4, value=1e4), "exploded", "max force"),
        (RaisesAfter(4), "failed", "SCF did not converge"),
    ],
)
def test_broken_calculators_end_the_run_marked(cuni, calc, status, words):
    result = MDEvolver(calculator=calc, rng=0).run(cuni, steps=20)
    assert result.status == status
    assert words in result.reason
    assert result.steps < 20
    assert len(result.frames) >= 1


def test_overlapping_atoms_explode():
    atoms = rattled_cu()
    atoms.positions[1] = atoms.positions[0] + [0.2, 0, 0]
    result = MDEvolver(calculator=EMT(), blowup_force_eV_A=1e5, rng=0).run(
        atoms, steps=5
    )
    assert result.status == "exploded" and "closer than" in result.reason


def test_shortest_distance_periodic_and_free():
    assert shortest_distance(Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]])) == (
        pytest.approx(0.74)
    )
    assert shortest_distance(Atoms("H2", positions=[[0, 0, 0], [5, 0, 0]])) == math.inf
    periodic = Atoms("Cu", cell=[2.5, 2.5, 2.5], pbc=True)
    assert shortest_distance(periodic) == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"alpha": -1.0}, "alpha"),
        ({"timestep_fs": 0.0}, "timestep_fs"),
        ({"ensemble": "npt"}, "ensemble"),
        ({"record_every": 0}, "record_every"),
        ({"friction_per_fs": 0.0}, "friction_per_fs"),
    ],
)
def test_md_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MDEvolver(calculator=EMT(), **kwargs)


def test_run_validation(cuni):
    with pytest.raises(ValueError, match="steps"):
        MDEvolver(calculator=EMT()).run(cuni, steps=-1)
    with pytest.raises(ValueError, match="empty"):
        MDEvolver(calculator=EMT()).run(Atoms(), steps=1)
    with pytest.raises(ValueError, match="optimizer"):
        RelaxEvolver(calculator=EMT(), optimizer="lbfgs")


def test_distance_tracker_with_skin_matches_brute_force():
    rng = np.random.default_rng(0)
    atoms = rattled_cu()
    tracker = DistanceTracker(probe_A=3.0, skin_A=0.5)
    rebuilds = 0
    for step in range(40):
        atoms.positions += rng.normal(scale=0.04, size=atoms.positions.shape)
        if step == 25:  # a cell change forces a rebuild
            atoms.set_cell(atoms.cell * 0.98, scale_atoms=True)
        reference = tracker._reference
        got = tracker(atoms)
        rebuilds += tracker._reference is not reference
        d = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
        expected = d.min() if d.min() < 3.0 else math.inf
        assert got == pytest.approx(expected, abs=1e-12)
    assert 2 <= rebuilds < 40  # the skin saved most rebuilds, and it did rebuild
