"""The benchmark's statistics on constructed numbers: a known paired
difference recovered, the interval's coverage and the test's power on
synthetic replicates, censored calls-to-target and Holm's correction by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hyperal.benchmark.statistics import (
    Censored,
    compare,
    holm,
    replicates_needed,
    sample_std,
    sign_flip_p,
    smallest_detectable,
    t_interval,
    two_way_bootstrap,
    with_holm,
)


def test_a_known_paired_difference_is_recovered():
    # the variant is 5 meV/Å worse in every replicate, whatever the
    # replicate's own level: pairing removes the between-replicate spread
    other = [300.0, 520.0, 410.0, 260.0, 700.0]
    mine = [v + 5.0 for v in other]
    c = compare("a", "b", "reference", "final", mine, other)
    assert c.interval.mean == pytest.approx(5.0)
    assert c.interval.low == pytest.approx(5.0) and c.interval.high == pytest.approx(5)
    assert c.interval.p == 0.0
    # unpaired, the same numbers are indistinguishable (spread ~180 meV/Å)
    assert sample_std(other) > 150


def test_the_t_interval_by_hand():
    d = [1.0, 2.0, 3.0, 4.0, 5.0]
    i = t_interval(d)
    sd = math.sqrt(sum((x - 3) ** 2 for x in d) / 4)  # ddof = 1: 1.5811
    assert i.sd == pytest.approx(sd) and i.sd == pytest.approx(1.58113883)
    # t_{0.975, 4} = 2.776445
    assert i.half_width == pytest.approx(2.776445 * sd / math.sqrt(5), rel=1e-6)
    # t = 3 / (sd / √5) = 4.2426, two-sided p with 4 dof = 0.01324
    assert i.p == pytest.approx(0.013236, rel=1e-3)
    one = t_interval([2.0])
    assert one.n == 1 and math.isnan(one.low) and math.isnan(one.p)


def test_the_interval_covers_the_true_difference_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    simulations, n, true = 4000, 8, 12.0
    covered = 0
    for _ in range(simulations):
        i = t_interval(rng.normal(true, 30.0, size=n))
        covered += i.low <= true <= i.high
    assert 0.93 <= covered / simulations <= 0.97


def test_the_smallest_detectable_effect_is_detected_with_its_power():
    rng = np.random.default_rng(3)
    n, sd = 8, 20.0
    effect = smallest_detectable(sd, n)
    hits = sum(t_interval(rng.normal(effect, sd, size=n)).p < 0.05 for _ in range(3000))
    # stated at 80 % power (a normal-approximation formula with t quantiles:
    # slightly conservative)
    assert 0.77 <= hits / 3000 <= 0.86
    assert smallest_detectable(sd, 1) != smallest_detectable(sd, 1)  # NaN


def test_replicates_needed_is_the_first_that_detects_the_effect():
    n = replicates_needed(25.0, 20.0)
    assert smallest_detectable(25.0, n) <= 20.0 < smallest_detectable(25.0, n - 1)
    assert replicates_needed(0.0, 1.0) == 2
    assert replicates_needed(math.nan, 1.0) is None


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06,
    # 0.04 -> running maximum 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # NaN (no test) neither counts nor changes
    out = holm([0.02, math.nan, 0.6])
    assert out[0] == pytest.approx(0.04) and math.isnan(out[1])
    assert out[2] == pytest.approx(0.6)
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_verdicts_follow_the_corrected_test():
    rng = np.random.default_rng(0)
    other = list(rng.normal(400, 50, size=8))
    worse = [v + 40 + rng.normal(0, 5) for v in other]
    same = [v + rng.normal(0, 5) for v in other]
    better = [v - 40 + rng.normal(0, 5) for v in other]
    made = with_holm(
        [
            compare("w", "o", "reference", "final", worse, other),
            compare("s", "o", "reference", "final", same, other),
            compare("b", "o", "reference", "final", better, other),
            compare("b", "o", "reference", "over budget", better, other),
        ]
    )
    assert [c.verdict.split(" (")[0] for c in made] == [
        "worse",
        "no detectable difference",
        "better",
        "better",
    ]
    # the family of each figure is corrected on its own: one comparison of
    # 'over budget' keeps its p
    assert made[3].p_holm == pytest.approx(made[3].interval.p)
    assert [c.p_holm for c in made[:3]] == pytest.approx(
        holm([c.interval.p for c in made[:3]])
    )
    assert "smallest detectable effect" in made[1].verdict
    assert "%" in made[1].text() and "p_Holm" in made[1].text()
    # a replicate missing either value leaves the pair out
    c = compare("a", "b", "control", "final", [1.0, None, 3.0], [0.0, 1.0, math.nan])
    assert c.differences == (1.0,) and c.verdict.startswith("one replicate")


def test_calls_to_target_are_censored_not_dropped():
    # replicate 2 never reached the target: it needs more than its budget,
    # 1.1x the reference's calls
    c = Censored((0.8, None, 0.9), (1.2, 1.1, 1.3))
    assert c.reached == 2 and c.n == 3
    # Kaplan-Meier by hand: S = 2/3 after 0.8, 1/3 after 0.9 (< 1/2)
    assert c.median == (0.9, False)
    mean, bound = c.restricted_mean
    assert mean == pytest.approx((0.8 + 1.1 + 0.9) / 3) and bound
    # survivor-averaging would have said 0.85x; the censored figures do not
    assert c.text().startswith("KM median 0.90× [")
    assert c.text().endswith("mean ≥ 0.93× (2/3 reached)")
    # a replicate censored between two reached ones leaves the risk set: S
    # falls from 2/3 to 0 at 1.0, the median; read as reached at its bound
    # (0.85) the median would be 0.85
    c = Censored((0.8, None, 1.0), (1.2, 0.85, 1.3))
    assert c.median == (1.0, False)
    # most replicates beyond the budget: S = 2/3 after 0.5 and over every
    # bound, so the median lies beyond the last observed ratio
    c = Censored((None, None, 0.5), (1.4, 1.2, 1.3))
    assert c.median == (1.4, True)
    assert c.text().startswith("KM median > 1.40×")
    assert c.median_interval()[1] == math.inf
    # all reached: an ordinary median (even count: the midpoint)
    assert Censored((0.5, 0.7, 0.9, 1.1), (2, 2, 2, 2)).median == (0.8, False)
    # nothing reached: beyond every bound
    assert Censored((None, None), (1.5, 2.5)).median == (2.5, True)


def test_the_km_median_of_a_straddle_and_of_unequal_bounds_by_hand():
    # the median straddles a reached ratio and a censored one: S = 1/2 from
    # 1.0 on and the censored replicate lies beyond 2.0, so the median (the
    # midpoint of the two) is beyond (1.0 + 2.0) / 2 -- not 2.0
    assert Censored((1.0, None), (3.0, 2.0)).median == (1.5, True)
    # unequal bounds: censored at > 2.0 and > 2.5 lie below a reached 3.0 in
    # time; at risk 4, 3, 2, 1: S = 3/4 after 1.0 and 0 after 3.0. The old
    # ordering put the censored replicates after every reached one and gave
    # "> 2.0"
    c = Censored((1.0, None, None, 3.0), (4.0, 2.0, 2.5, 4.0))
    assert c.median == (3.0, False)
    # its interval by hand from the log-log band of S (Greenwood variance):
    # after 1.0, S = 3/4 and var(S) = S^2/(4*3), so the band's bottom is
    # already below 1/2 there: the interval starts at 1.0; the band's top
    # reaches 1/2 only where S falls to 0, at 3.0
    low, high = c.median_interval()
    assert (low, high) == (1.0, 3.0)
    # many reached: the interval holds the median and tightens with n
    rng = np.random.default_rng(0)
    wide = Censored(tuple(rng.uniform(0.5, 1.5, 8)), (2.0,) * 8).median_interval()
    narrow = Censored(tuple(rng.uniform(0.5, 1.5, 200)), (2.0,) * 200)
    low, high = narrow.median_interval()
    assert low < narrow.median[0] < high
    assert high - low < wide[1] - wide[0] and 0.85 < low and high < 1.15


def test_the_sign_flip_p_by_hand():
    # n = 4, every difference positive: only the all-plus and all-minus of
    # the 16 sign assignments have |sum| >= 10
    assert sign_flip_p([1.0, 2.0, 3.0, 4.0]) == 2 / 16
    # flipping the 1: sums at least |8| in absolute value are +-10 and +-8
    assert sign_flip_p([-1.0, 2.0, 3.0, 4.0]) == 4 / 16
    # n = 8, all positive: 2/256, the smallest an exact test of 8 can give --
    # times 8 comparisons (Holm's first step) it is 0.0625, never below 0.05
    assert sign_flip_p([0.5, 1, 2, 3, 4, 5, 6, 7]) == 2 / 256
    assert holm([2 / 256] * 8)[0] > 0.05
    # with 12 replicates it can pass
    assert holm([2 / 4096] * 8)[0] < 0.05
    # beyond the exact limit: seeded Monte Carlo close to the exact value
    d = np.random.default_rng(3).normal(0.4, 1.0, 14)
    exact = sign_flip_p(d)
    approx = sign_flip_p(d, exact_up_to=10, draws=100_000)
    assert approx == pytest.approx(exact, abs=0.01)
    assert math.isnan(sign_flip_p([]))


@pytest.mark.parametrize(
    "replicate_sd, structure_sd, noise_sd",
    [(1.0, 1.0, 0.5), (1.0, 0.3, 0.5), (0.3, 1.0, 0.5), (1.0, 0.01, 0.3)],
)
def test_the_two_way_bootstrap_covers_at_its_level(
    replicate_sd, structure_sd, noise_sd
):
    # synthetic paired differences d[r, i] = a_r + b_i + e_ri over 12
    # replicates and three strata of 8 structures, true mean 0: the interval
    # of the stratum-averaged mean must hold 0 in 92-97 % of 1000 simulations
    rng = np.random.default_rng(1)
    replicates, strata, sims = 12, [8, 8, 8], 1000
    hits = 0
    for k in range(sims):
        a = rng.normal(0, replicate_sd, replicates)
        data = [
            a[:, None]
            + rng.normal(0, structure_sd, n)[None, :]
            + rng.normal(0, noise_sd, (replicates, n))
            for n in strata
        ]

        def mean(rep, structures, data=data):
            return np.mean(
                [
                    d[rep[:, :, None], idx[:, None, :]].mean(axis=(1, 2))
                    for d, idx in zip(data, structures, strict=True)
                ],
                axis=0,
            )

        low, high = two_way_bootstrap(mean, replicates, strata, draws=500, seed=k)
        hits += low <= 0 <= high
    assert 0.92 <= hits / sims <= 0.97


def test_a_biased_variant_is_also_compared_with_its_twin():
    from hyperal.benchmark.results import VariantSummary, paired_comparisons

    def summary(name, scheme, rule, final):
        return VariantSummary(
            variant=name,
            scheme=scheme,
            rule=rule,
            replicates=3,
            final_force_rmse=final,
            final_gentle_force_rmse=final,
            final_energy_rmse=final,
            final_labels=[10] * 3,
            calls_to_target=[None] * 3,
            ratio_to_reference=[None] * 3,
            budget_ratio=[1.0] * 3,
            mean_error_over_budget=final,
            largest_rise=0.0,
            oracle_failures=0,
            skipped=0,
            redundant=0,
        )

    made = paired_comparisons(
        [
            summary("md", "md", "max_sigma", [100.0, 110.0, 120.0]),
            summary("ce", "ce", "max_sigma", [90.0, 100.0, 105.0]),
            summary("advb_ce", "advb_ce", "max_sigma", [95.0, 104.0, 111.0]),
            summary("advb_md", "advb_md", "max_sigma", [101.0, 112.0, 119.0]),
            summary("md-random", "md", "random", [80.0, 95.0, 99.0]),
        ],
        reference="md",
        control="md-random",
    )
    twins = {(c.variant, c.other) for c in made if c.role == "twin"}
    # advb_md's twin is the reference: compared once, as the reference
    assert twins == {("advb_ce", "ce")}
    (c,) = [c for c in made if c.role == "twin" and c.metric == "final"]
    assert c.differences == pytest.approx((5.0, 4.0, 6.0))
    # one family per figure: 4 vs the reference, 3 vs the control, 1 twin
    assert sum(c.metric == "final" for c in made) == 8


def test_a_variants_selection_is_named_by_rule_score_and_batch():
    from hyperal.benchmark.collect import selection_label
    from hyperal.campaign.config import SelectionConfig

    def label(**keys):
        return selection_label(SelectionConfig(**keys))

    assert label() == "max_sigma"
    assert label(rule="random", score="force_sigma_max") == "random"
    assert label(score="force_sigma_mean") == "force_sigma_mean"
    assert label(score="force_sigma_max", batch=True) == "force_sigma_max + batch"
