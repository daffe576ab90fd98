"""Barrier errors with a bootstrap interval over hops; the fingerprint of a
barrier store written before the energy rule existed."""

from __future__ import annotations

import numpy as np
import pytest

from hyperal.barriers.statistics import (
    barrier_errors,
    barrier_errors_by,
    interval_text,
    rmse_interval,
)
from hyperal.runs.fingerprint import check, refusal


def test_rmse_and_interval_by_hand():
    oracle = [0.5, 0.6, 0.7, 0.8]
    mlip = [0.45, 0.66, None, 0.8]  # one committee search failed
    errors = barrier_errors(oracle, mlip)
    assert (errors.hops, errors.found) == (4, 3)
    expected = 1e3 * np.sqrt((0.05**2 + 0.06**2 + 0.0) / 3)
    assert errors.rmse_meV == pytest.approx(expected)
    assert errors.mean_error_meV == pytest.approx(1e3 * (-0.05 + 0.06) / 3)
    low, high = errors.interval_meV
    # the resampled RMSEs lie between the smallest and largest |error|
    assert 0 <= low <= errors.rmse_meV <= high <= 60 + 1e-9
    assert interval_text(errors) == f"{expected:.0f} [{low:.0f}, {high:.0f}]"
    # the same errors give the same interval (seeded)
    assert barrier_errors(oracle, mlip).interval_meV == (low, high)


def test_equal_errors_have_a_point_interval_and_one_error_none():
    assert rmse_interval([0.03, -0.03, 0.03]) == pytest.approx((0.03, 0.03))
    assert rmse_interval([0.03]) is None
    one = barrier_errors([0.5], [0.52])
    assert one.interval_meV is None and interval_text(one) == "20"
    none = barrier_errors([0.5, 0.6], [None, None])
    assert none.found == 0 and none.rmse_meV is None and interval_text(none) == "–"


def test_the_interval_covers_the_true_rmse_most_of_the_time():
    """Errors drawn with RMS 1: the 95 % interval of 30 hops holds 1 in
    most of 300 draws (the percentile bootstrap runs a little short)."""
    rng = np.random.default_rng(1)
    held = 0
    for _ in range(300):
        low, high = rmse_interval(rng.normal(0, 1, 30))
        held += low <= 1 <= high
    assert 0.85 <= held / 300 <= 0.99, held


def test_errors_per_group():
    groups = ["fcc-vacancy: Cu", "fcc-vacancy: Ni", "fcc-vacancy: Cu"]
    by = barrier_errors_by(groups, [0.5, 0.6, 0.7], [0.6, 0.6, None])
    assert list(by) == ["fcc-vacancy: Cu", "fcc-vacancy: Ni"]
    assert by["fcc-vacancy: Cu"].hops == 2 and by["fcc-vacancy: Cu"].found == 1
    assert by["fcc-vacancy: Cu"].rmse_meV == pytest.approx(100)
    assert by["fcc-vacancy: Ni"].rmse_meV == pytest.approx(0)


def test_a_store_from_before_the_energy_rule():
    """An old barrier store's fingerprint has no ``barrier_error_eV``: with
    the rule off (null) the same settings; with it on, a triage change that
    ``--accept-changes`` accepts."""
    old = {"triage": {"artifact_force_eV_A": 0.3, "min_distance_A": 1.5}}
    off = {"triage": {**old["triage"], "barrier_error_eV": None}}
    on = {"triage": {**old["triage"], "barrier_error_eV": 0.05}}
    assert check(old, off) == []
    refused = check(old, on)
    assert refused == ["triage.barrier_error_eV"]
    assert "--accept-changes" in refusal(refused, "barrier campaign")
    assert check(old, on, accept=True) == []


def test_paired_difference_cancels_what_the_hops_share():
    """Two committees whose errors differ by a small amount on every hop,
    on top of large hop-to-hop errors they share: the paired interval is
    narrow around the difference; hops either missed are left out."""
    from hyperal.barriers.statistics import paired_difference

    rng = np.random.default_rng(3)
    oracle = list(rng.uniform(0.3, 1.0, 12))
    shared = rng.normal(0, 0.1, 12)  # what both get wrong: ±100 meV
    a = [o + s + 0.01 * np.sign(s) for o, s in zip(oracle, shared, strict=True)]
    b = [o + s for o, s in zip(oracle, shared, strict=True)]
    a[0] = None
    diff, low, high, hops = paired_difference(oracle, a, b)
    ea = [1e3 * (x - o) for x, o in zip(a[1:], oracle[1:], strict=True)]
    eb = [1e3 * (x - o) for x, o in zip(b[1:], oracle[1:], strict=True)]
    assert hops == 11
    assert diff == pytest.approx(
        np.sqrt(np.mean(np.square(ea))) - np.sqrt(np.mean(np.square(eb)))
    )
    assert 0 < low <= diff <= high < 12  # a is worse by ~10 meV, surely
    from hyperal.barriers.statistics import paired_text

    text = f"{diff:+.0f} [{low:+.0f}, {high:+.0f}]"
    assert paired_text(oracle, a, b) == text
    assert paired_text(oracle, a, b, hops=True) == f"{text} (11 hops)"
    # unpaired intervals of the two RMSEs overlap almost entirely
    ia, ib = rmse_interval(ea), rmse_interval(eb)
    assert ia[0] < ib[1]
    assert paired_difference(oracle[:2], [None, 0.5], [0.4, None]) is None
