"""Frame selection limits, the redundancy filter and the scheme registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.calculators.emt import EMT

from hyperal.evolve import (
    SCHEMES,
    ContourEvolver,
    DimerEvolver,
    EvolveResult,
    Frame,
    MDEvolver,
    RedundancyFilter,
    RelaxEvolver,
    make_evolver,
    select_frame,
)
from hyperal.evolve.select import descriptor_distance
from tests.helpers import rattled_cuni


def frame(step, sigma, max_force=1.0, min_distance=2.5, n=4, energy=-1.0):
    return Frame(
        step=step,
        positions=np.zeros((n, 3)),
        cell=np.eye(3),
        numbers=np.full(n, 29),
        pbc=np.ones(3, bool),
        energy=energy,
        sigma=sigma,
        max_force=max_force,
        min_distance=min_distance,
    )


def test_selection_takes_the_most_uncertain_physical_frame():
    frames = [
        frame(0, 0.1),
        frame(1, 0.9, max_force=30.0),  # blocked by F_max
        frame(2, 0.8, min_distance=0.7),  # blocked by the distance floor
        frame(3, 0.5),
        frame(4, math.nan),  # no uncertainty
        frame(5, 0.4),
    ]
    result = select_frame(frames)
    assert result.selected and result.index == 3 and result.frame.sigma == 0.5
    assert (result.blocked_force, result.blocked_distance) == (1, 1)
    assert result.blocked_uncertainty == 1 and result.n_frames == 6
    assert "frame 3" in result.reason and "3 of 6" in result.reason
    # the limits are parameters: relax F_max and the 0.9 frame wins
    assert select_frame(frames, max_force_eV_A=50.0).index == 1
    assert select_frame(frames, min_distance_A=0.5).index == 2
    assert select_frame(frames, max_force_eV_A=1.0).frame is None  # strict <


def test_ranking_and_the_random_control():
    frames = [frame(0, 0.1), frame(1, 0.9, max_force=30.0), frame(2, 0.5)]
    frames += [frame(3, 0.7), frame(4, 0.3)]
    # the qualified frames by σ, largest first: the next candidates
    assert select_frame(frames).ranked == (3, 2, 4, 0)
    assert select_frame(frames, include_start=False).ranked == (3, 2, 4)
    # random: the same qualified frames, an order drawn from the seed
    drawn = [select_frame(frames, rule="random", rng=s) for s in range(40)]
    assert all(sorted(d.ranked) == [0, 2, 3, 4] for d in drawn)
    assert all(d.index == d.ranked[0] and "at random" in d.reason for d in drawn)
    assert {d.index for d in drawn} == {0, 2, 3, 4}  # each qualified one drawn
    assert select_frame(frames, rule="random", rng=7).ranked == (
        select_frame(frames, rule="random", rng=7).ranked
    )
    with pytest.raises(ValueError, match="unknown selection rule .median.; allowed"):
        select_frame(frames, rule="median")


def test_selection_reports_why_nothing_qualified():
    frames = [frame(0, 0.3, max_force=40.0), frame(1, 0.5, min_distance=0.5)]
    result = select_frame(frames)
    assert not result.selected and result.frame is None and result.index is None
    assert "all 2 blocked" in result.reason
    assert "1 by max |F|" in result.reason and "1 by shortest distance" in result.reason
    assert "no frames" in select_frame([]).reason


def test_selection_per_atom_and_start_exclusion():
    frames = [frame(0, 0.9, n=4), frame(1, 0.6, n=2), frame(2, 1.0, n=8)]
    assert select_frame(frames).index == 2
    assert select_frame(frames, per_atom=True).index == 1  # 0.3 eV/atom
    assert select_frame(frames[:2], include_start=False).index == 1


def test_selection_on_an_evolution(cuni, committee):
    result = MDEvolver(calculator=committee, alpha=1.0, rng=0).run(cuni, steps=20)
    chosen = select_frame(result)
    assert isinstance(result, EvolveResult)
    assert chosen.frame.sigma == pytest.approx(result.sigmas.max())
    assert chosen.frame is result.frames[chosen.index]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"max_force_eV_A": -1}, "max_force"), ({"min_distance_A": -1}, "min_distance")],
)
def test_selection_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        select_frame([], **kwargs)


def test_redundancy_filter_drops_copies_keeps_distinct_structures():
    atoms = rattled_cuni()
    shifted = atoms.copy()
    shifted.translate([0.7, -0.3, 1.1])
    shifted.wrap()
    permuted = atoms[np.random.default_rng(0).permutation(len(atoms))]
    distinct = atoms.copy()
    distinct.rattle(0.1, seed=9)
    kept = RedundancyFilter(["Cu", "Ni"]).filter([atoms, shifted, permuted, distinct])
    assert kept == [atoms, distinct]


def test_descriptor_distance_needs_the_same_elements():
    a = np.ones((2, 3))
    assert descriptor_distance(a, np.array([29, 29]), a, np.array([29, 28])) == math.inf
    assert descriptor_distance(a, np.array([29, 28]), a, np.array([28, 29])) == 0.0


def test_redundancy_filter_validation():
    with pytest.raises(ValueError, match="threshold"):
        RedundancyFilter(["Cu"], threshold=-1)
    with pytest.raises(ValueError, match="elements"):
        RedundancyFilter([])


EXPECTED = {
    "md": (MDEvolver, "alpha", 0.0),
    "advb_md": (MDEvolver, "alpha", 1.0),
    "relax": (RelaxEvolver, "alpha", 0.0),
    "advb_relax": (RelaxEvolver, "alpha", 1.0),
    "ce": (ContourEvolver, "gamma", 0.0),
    "advb_ce": (ContourEvolver, "gamma", 0.5),
    "dimer": (DimerEvolver, "alpha", 0.0),
    "advb_dimer": (DimerEvolver, "alpha", 1.0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registry_builds_each_scheme(name, committee):
    cls, key, value = EXPECTED[name]
    evolver = make_evolver(name, committee, rng=3)
    assert type(evolver) is cls and getattr(evolver, key) == value
    assert evolver.rng == 3


def test_registry_passes_parameters(committee):
    evolver = make_evolver(
        "advb_md", committee, {"alpha": 0.3, "temperature_K": 900, "timestep_fs": 2}
    )
    assert (evolver.alpha, evolver.temperature_K, evolver.timestep_fs) == (0.3, 900, 2)
    dimer = make_evolver("dimer", EMT(), {"mode": [[0, 0, 1.0], [0, 0, 0]]})
    assert isinstance(dimer.mode, np.ndarray) and dimer.mode[0, 2] == 1.0
    assert set(SCHEMES) == set(EXPECTED)


@pytest.mark.parametrize(
    ("name", "params", "words"),
    [
        ("mc", {}, "unknown scheme 'mc'"),
        ("md", {"temprature_K": 300}, "temprature_K"),
        ("md", {"alpha": 1.0}, "use 'advb_md'"),
        ("advb_md", {"alpha": 0.0}, "use 'md'"),
        ("advb_ce", {"gamma": 0.0}, "gamma must be > 0"),
        ("ce", {"gamma": 0.2}, "advb_ce"),
        ("relax", {"calculator": 1}, "unknown parameter"),
        ("md", {"temperature_K": -5}, "temperature_K"),
    ],
)
def test_registry_errors_name_the_key(name, params, words, committee):
    with pytest.raises(ValueError, match=words.replace("|", r"\|")):
        make_evolver(name, committee, params)


# --- scores and batch selection ------------------------------------------------


def _committee():
    from hyperal.committee.emt import emt_committee

    return emt_committee(3, ["Cu", "Ni"], rng=0)


def test_force_scores_are_the_members_force_disagreement():
    from hyperal.evolve import frame_scores

    calc = _committee()
    result = RelaxEvolver(calculator=calc).run(rattled_cuni(seed=4), steps=3)
    frames = result.frames

    def relative(spread, mean, reduce, floor):
        return reduce(spread / (np.linalg.norm(mean, axis=1) + floor))

    cases = [
        ("force_sigma_max", {}, lambda s, m: np.max(s)),
        ("force_sigma_mean", {}, lambda s, m: np.mean(s)),
        ("force_sigma_relative", {}, lambda s, m: relative(s, m, np.max, 1.0)),
        (
            "force_sigma_relative_mean",
            {"relative_floor_eV_A": 0.2},
            lambda s, m: relative(s, m, np.mean, 0.2),
        ),
    ]
    for score, options, expected in cases:
        values = frame_scores(frames, score, calculator=calc, **options)
        for f, v in zip(frames, values, strict=True):
            atoms = f.to_atoms()
            atoms.calc = calc
            members = np.array(calc.get_property("member_forces", atoms))
            mean = members.mean(0)
            spread = np.sqrt(((members - mean) ** 2).sum(axis=2).mean(axis=0))
            assert v == pytest.approx(expected(spread, mean), rel=1e-10)
    with pytest.raises(ValueError, match="relative_floor_eV_A must be > 0"):
        frame_scores(frames, "force_sigma_relative", calculator=calc,
                     relative_floor_eV_A=0)  # fmt: skip
    # energy σ needs no calculator and matches the recorded σ_U
    assert np.allclose(frame_scores(frames, "energy_sigma"), result.sigmas)
    with pytest.raises(ValueError, match="unknown score .entropy.; allowed"):
        frame_scores(frames, "entropy")
    with pytest.raises(ValueError, match="forces_uncertainty"):
        frame_scores(frames, "force_sigma_max", calculator=EMT())


class _Stub:
    """A committee calculator whose per-atom force spread and mean forces
    are set by hand per frame (read from the first atom's x)."""

    implemented_properties = ("forces", "forces_uncertainty")

    def __init__(self, spreads, forces):
        self.spreads, self.forces = spreads, forces

    def get_property(self, name, atoms):
        k = int(round(atoms.positions[0, 0]))
        return self.spreads[k] if name == "forces_uncertainty" else self.forces[k]


def test_the_relative_force_deviation_discounts_spread_that_grows_with_force():
    from hyperal.evolve import frame_scores

    # frame 1: a large spread on an atom under a large force; frame 2: a
    # smaller spread where the force is small -- the absolute spread picks
    # frame 1, the relative one (l = 1 eV/A) frame 2
    frames = [frame(k, 0.1) for k in range(3)]
    for k, f in enumerate(frames):
        f.positions[0, 0] = k
    spreads = [np.array([0.1, 0.1]), np.array([2.0, 0.1]), np.array([0.6, 0.1])]
    forces = [np.zeros((2, 3)), np.array([[9.0, 0, 0], [0, 0, 0]]), np.zeros((2, 3))]
    stub = _Stub(spreads, forces)
    absolute = frame_scores(frames, "force_sigma_max", calculator=stub)
    relative = frame_scores(frames, "force_sigma_relative", calculator=stub)
    assert absolute.tolist() == [0.1, 2.0, 0.6]
    assert relative == pytest.approx([0.1, 0.2, 0.6])  # 2.0 / (9 + 1)
    assert select_frame(frames, scores=absolute, score="force_sigma_max").index == 1
    chosen = select_frame(frames, scores=relative, score="force_sigma_relative")
    assert chosen.index == 2 and "force_sigma_relative = 0.6;" in chosen.reason


def test_sigma_free_controls_read_the_committee_mean_not_its_spread():
    from hyperal.evolve import frame_scores

    # a hand-made trajectory: σ_U says frame 1, the mean force frame 2, the
    # energy above the start frame 3 (frame 4 is beyond F_max)
    frames = [
        frame(0, 0.1, max_force=0.5, energy=-4.0),
        frame(1, 0.9, max_force=1.0, energy=-3.9),
        frame(2, 0.2, max_force=6.0, energy=-3.6),
        frame(3, 0.3, max_force=2.0, energy=-2.0),
        frame(4, 0.1, max_force=30.0, energy=0.0),
    ]
    magnitude = frame_scores(frames, "force_magnitude")
    above = frame_scores(frames, "energy_above")
    assert magnitude.tolist() == [0.5, 1.0, 6.0, 2.0, 30.0]
    assert above == pytest.approx([0.0, 0.025, 0.1, 0.5, 1.0])  # eV/atom, n=4
    for score, best in (("energy_sigma", 1), ("force_magnitude", 2)):
        values = frame_scores(frames, score)
        assert select_frame(frames, scores=values, score=score).index == best
    chosen = select_frame(frames, scores=above, score="energy_above")
    assert chosen.index == 3 and "energy_above = 0.5 eV/atom" in chosen.reason
    # blind to the spread: the same frames with every σ_U doubled score alike
    doubled = [frame(f.step, 2 * f.sigma, f.max_force, energy=f.energy) for f in frames]
    assert np.array_equal(frame_scores(doubled, "force_magnitude"), magnitude)


def test_the_gamma_score_reads_the_grade_it_is_given():
    from hyperal.evolve import frame_scores

    frames = [frame(k, 0.1) for k in range(3)]
    for k, f in enumerate(frames):
        f.positions[0, 0] = 0.5 * k
    values = frame_scores(frames, "gamma", grade=lambda a: 1 + a.positions[0, 0])
    assert values.tolist() == [1.0, 1.5, 2.0]
    chosen = select_frame(frames, scores=values, score="gamma")
    assert chosen.index == 2 and "γ = 2" in chosen.reason
    with pytest.raises(ValueError, match="needs the grade"):
        frame_scores(frames, "gamma")


def test_every_registered_score_scores_a_real_trajectory(tmp_path):
    from hyperal.campaign.config import SelectionConfig
    from hyperal.evolve import SCORES, Score, frame_scores, register_score
    from hyperal.evolve.scores import get_score

    calc = _committee()
    frames = (
        MDEvolver(calculator=calc, temperature_K=600)
        .run(rattled_cuni(seed=2), steps=4)
        .frames
    )
    grade = {"grade": lambda atoms: float(atoms.positions.std())}
    for name, entry in SCORES.items():
        values = frame_scores(frames, name, calculator=calc, **grade)
        assert values.shape == (len(frames),) and np.all(np.isfinite(values)), name
        assert np.array_equal(
            values, frame_scores(frames, name, calculator=calc, **grade)
        )
        assert SelectionConfig(score=name).score == name
        assert entry.text(values[0]).endswith(entry.unit)
    # a new score is one entry: the file accepts it, selection ranks by it
    toy = Score("toy_last", "1", False, "", lambda f, c, p: np.arange(len(f)), "test")
    register_score(toy)
    try:
        assert SelectionConfig(score="toy_last").score == "toy_last"
        values = frame_scores(frames, "toy_last")
        assert select_frame(frames, scores=values, score="toy_last").index == (
            len(frames) - 1
        )
        with pytest.raises(ValueError, match="registered already"):
            register_score(toy)
    finally:
        SCORES.unregister("toy_last")
    with pytest.raises(ValueError, match="force_magnitude"):
        get_score("nonsense")


def test_select_frame_ranks_by_given_scores_and_blocks_missing_ones():
    frames = [frame(k, sigma=1.0 + k) for k in range(4)]
    # scores reverse σ_U's order; a NaN score blocks its frame
    chosen = select_frame(
        frames, scores=[9.0, 5.0, math.nan, 1.0], score="force_sigma_max"
    )
    assert chosen.index == 0 and chosen.ranked == (0, 1, 3)
    assert chosen.blocked_uncertainty == 1
    assert "force_sigma_max = 9" in chosen.reason
    assert select_frame(frames).index == 3  # σ_U by default
    with pytest.raises(ValueError, match="one value per frame"):
        select_frame(frames, scores=[1.0])


def test_spread_out_takes_the_best_of_each_stretch():
    from hyperal.evolve.select import spread_out

    # 10 frames, 2 stretches (0-4, 5-9): ranked best-first
    assert spread_out([3, 4, 8, 1, 9], 10, 2) == [3, 8]
    assert spread_out([3, 2, 4], 10, 3) == [3, 4]  # 2 shares 3's stretch
    with pytest.raises(ValueError):
        spread_out([0], 10, 0)


def test_batch_selection_picks_the_uncertain_and_diverse_frames():
    from hyperal.evolve import select_batch
    from hyperal.models.descriptors import BPDescriptor

    describe = BPDescriptor(elements=("Cu", "Ni"), cutoff=5.0).compute
    a = rattled_cuni(seed=1, stdev=0.05)
    a_copy = a.copy()
    a_copy.positions += 0.002 * np.random.default_rng(0).standard_normal((32, 3))
    b = rattled_cuni(seed=2, stdev=0.3)  # other decoration, other geometry
    c = rattled_cuni(seed=3, stdev=0.3)
    # a and its near-copy are the most uncertain; alone by score, both
    # would be chosen
    pool, scores = [a, a_copy, b, c], [1.0, 0.99, 0.6, 0.1]
    choice = select_batch(pool, scores, 2, descriptor=describe)
    assert choice.chosen == (0, 2)
    assert choice.values[0] == 1.0 and 0 < choice.values[1] <= 0.6
    # the near-copy keeps almost nothing of its score once a is chosen
    three = select_batch(pool, scores, 3, descriptor=describe)
    assert three.chosen == (0, 2, 3)
    # a filter holding a already passes it over (redundant) and starts at b
    kept = RedundancyFilter(["Cu", "Ni"], threshold=0.01, descriptor=describe)
    kept.keep(a)
    held = select_batch(pool, scores, 2, kept=kept)
    assert held.chosen == (2, 3) and held.passed == (0, 1)
    assert len(kept) == 3  # a, then the two chosen
    # zero or non-finite scores are never chosen; n may exceed the pool
    assert select_batch(
        pool, [0.0, math.nan, 1.0, 0.0], 4, descriptor=describe
    ).chosen == (2,)
    with pytest.raises(ValueError, match="descriptor"):
        select_batch(pool, scores, 1)


def test_a_density_aware_batch_counts_the_training_set_as_chosen():
    from hyperal.evolve import select_batch
    from hyperal.models.descriptors import BPDescriptor

    describe = BPDescriptor(elements=("Cu", "Ni"), cutoff=5.0).compute
    a = rattled_cuni(seed=1, stdev=0.05)
    trained = a.copy()  # the training set holds a near-copy of a
    trained.positions += 0.01 * np.random.default_rng(1).standard_normal((32, 3))
    b = rattled_cuni(seed=2, stdev=0.3)
    c = rattled_cuni(seed=3, stdev=0.3)
    pool, scores = [a, b, c], [1.0, 0.6, 0.5]
    # by score and diversity among the pool alone, a goes first
    assert select_batch(pool, scores, 1, descriptor=describe).chosen == (0,)
    # counting the training set as chosen, a (next to it) keeps almost
    # nothing of its score: b and c, far from anything known, go first
    held = RedundancyFilter(["Cu", "Ni"], threshold=0.0, descriptor=describe)
    held.keep(trained)
    choice = select_batch(
        pool, scores, 2, descriptor=describe, covered=held.described()
    )
    assert choice.chosen == (1, 2)
    assert choice.values[0] < 0.6  # b's score, discounted by its distance


# --- trust window ----------------------------------------------------------------


def test_the_trust_window_draws_uniformly_inside_it_at_equal_cost():
    from hyperal.evolve.window import trust_window_draw

    # trajectory 0: two frames inside [1, 2]; 1: only below and above it;
    # 2: one inside, one above (failed: never drawn)
    scores = [[0.5, 1.2, 1.8], [0.1, 2.5], [1.5, 9.0]]
    chosen, below, above = trust_window_draw(scores, 1.0, 2.0, budget=3, rng=0)
    assert below == [1, 1, 0] and above == [0, 1, 1]
    # one each from 0 and 2 first, then the budget's third from what is
    # left inside: trajectory 0's other frame -- 1 gives none, cost stays 3
    assert sorted(chosen) == [(0, 1), (0, 2), (2, 0)]
    assert chosen[-1][0] == 0
    # nothing in the window anywhere: nothing drawn
    assert trust_window_draw(scores, 3.0, 4.0, budget=3, rng=0)[0] == []
    # the budget caps the draw; the first pass goes trajectory by trajectory
    assert [t for t, _ in trust_window_draw(scores, 1.0, 2.0, 1, rng=0)[0]] == [0]
    # uniform inside: each of trajectory 0's two window frames about half
    firsts = [trust_window_draw(scores, 1.0, 2.0, 2, rng=s)[0][0] for s in range(400)]
    share = sum(k == 1 for _, k in firsts) / len(firsts)
    assert 0.42 < share < 0.58
    # a refused frame (a near-copy) is replaced by the next draw
    refused = trust_window_draw(
        scores, 1.0, 2.0, budget=2, rng=0, accept=lambda t, k: (t, k) != (0, 1)
    )[0]
    assert (0, 1) not in refused and len(refused) == 2
    with pytest.raises(ValueError, match="low <= high"):
        trust_window_draw(scores, 2.0, 1.0, 1)


def test_a_window_of_quantiles_reads_the_loops_scores():
    from hyperal.campaign.config import SelectionConfig, WindowConfig

    window = WindowConfig(low=0.25, high=0.75, quantiles=True)
    assert window.bounds([1, 2, 3, 4, 5, np.nan]) == (2.0, 4.0)
    assert WindowConfig(low=0.1, high=0.3).bounds([9.0]) == (0.1, 0.3)
    with pytest.raises(ValueError, match="needs a `window`"):
        SelectionConfig(rule="trust_window")
    with pytest.raises(ValueError, match="needs rule: trust_window"):
        SelectionConfig(window={"low": 0.1, "high": 0.2})
    with pytest.raises(ValueError, match="must not exceed"):
        WindowConfig(low=0.3, high=0.1)
    with pytest.raises(ValueError, match=r"ranks by the score \(max_sigma\)"):
        SelectionConfig(rule="trust_window", window=window, batch=True)
