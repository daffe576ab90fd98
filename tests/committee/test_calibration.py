"""Calibration of the committee's σ: conformal coverage on synthetic data of
known noise, hand-computed cases, the flag of an overconfident committee,
and the figures a campaign evaluation records."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from hyperal.committee import Committee, emt_committee, perturbed_emt_members
from hyperal.committee.calibration import (
    AREA_LIMIT,
    aggregate,
    calibrate,
    calibration_curve,
    conformal_factor,
    coverage,
    miscalibration_area,
    rank_correlation,
)
from hyperal.models.protocol import predict
from hyperal.runs.evaluate import Labelled, calibrations


def _synthetic(n, seed, scale=1.0):
    """Errors drawn from N(0, σ²) with σ known; reported σ = scale·σ."""
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(0.5, 2.0, n)
    return scale * sigma, rng.normal(0.0, sigma)


def test_the_conformal_factor_covers_the_stated_share_of_new_errors():
    """Fitted on 2000 structures, checked on 20000 new ones: coverage within
    3 binomial standard deviations of 95 % (split conformal guarantees ≥
    95 % on average; with n = 2000 it is at most 95 % + 1/(n+1) above)."""
    for seed in range(5):
        sigma, error = _synthetic(2000, seed, scale=0.3)  # overconfident σ
        q = conformal_factor(sigma, error, alpha=0.05)
        new_sigma, new_error = _synthetic(20000, 100 + seed, scale=0.3)
        covered = coverage(new_sigma, new_error, q)
        assert abs(covered - 0.95) < 3 * math.sqrt(0.95 * 0.05 / 2000)
        assert q == pytest.approx(1.96 / 0.3, rel=0.1)  # the normal quantile


def test_conformal_factor_by_hand():
    sigma = [1.0, 1.0, 1.0, 1.0]
    error = [1.0, -2.0, 3.0, 4.0]  # scores 1, 2, 3, 4
    assert conformal_factor(sigma, error, alpha=0.2) == 4.0  # ⌈5·0.8⌉ = 4th
    assert conformal_factor(sigma, error, alpha=0.5) == 3.0  # ⌈5·0.5⌉ = 3rd
    assert conformal_factor(sigma, error, alpha=0.05) == math.inf  # 5th of 4
    assert conformal_factor([2.0, 0.5], [1.0, 1.0], alpha=0.5) == 2.0
    assert coverage(sigma, error, 2.5) == 0.5


def test_curve_area_and_rank_correlation():
    sigma, error = _synthetic(5000, 0)
    assert miscalibration_area(sigma, error) < 0.02  # calibrated
    assert miscalibration_area(0.5 * sigma, error) == pytest.approx(0.20, abs=0.02)
    assert miscalibration_area(0.1 * sigma, error) > 0.4
    assert 0.1 < rank_correlation(sigma, error) < 0.5
    assert rank_correlation(sigma, np.abs(error) * 0 + 1) is None
    # equal-count bins in σ order: RMS σ, RMSE, counts
    s, r, c = calibration_curve([1, 2, 3, 4, 5, 6], [0, 2, 0, 4, 0, 6], bins=3)
    assert c == [2, 2, 2]
    assert s == pytest.approx([math.sqrt(2.5), math.sqrt(12.5), math.sqrt(30.5)])
    assert r == pytest.approx([math.sqrt(2), math.sqrt(8), math.sqrt(18)])
    assert calibration_curve([1.0], [2.0], bins=10)[2] == [1]


def test_calibrate_fits_on_one_half_and_checks_on_the_other():
    sigma, error = _synthetic(4001, 1, scale=2.0)  # underconfident σ
    c = calibrate(sigma, error, quantity="energy", unit="meV/atom", seed=3)
    assert c.count == 4001 and c.held_out == 2000
    assert 0.93 < c.coverage < 0.97
    assert c.factor == pytest.approx(1.96 / 2, rel=0.1)
    assert c.flag().startswith("underconfident")
    assert calibrate(sigma, error, quantity="f", unit="u", seed=3) == calibrate(
        sigma, error, quantity="f", unit="u", seed=3
    )
    good = calibrate(*_synthetic(4000, 2), quantity="energy", unit="meV/atom")
    assert good.flag() == ""
    bad = calibrate(*_synthetic(4000, 2, scale=0.2), quantity="energy", unit="meV/atom")
    assert bad.flag().startswith("overconfident")
    few = calibrate(*_synthetic(10, 2), quantity="force", unit="meV/Å")
    assert few.factor == math.inf and few.coverage is None
    assert few.flag() == (
        "too few values to judge: a factor covering 95% needs at least 19 in "
        "the calibration half (here 5)"
    )


def test_a_calibrated_force_vector_is_not_flagged_by_a_scalar_area():
    # per-atom force errors drawn exactly as sigma says (each component
    # N(0, sigma^2 / 3), so E|dF|^2 = sigma^2), 40 atoms per structure, the
    # structure's value its largest atom: the scalar-normal area calls it
    # miscalibrated, and it is not
    rng = np.random.default_rng(5)
    sigma = rng.uniform(0.05, 0.5, (300, 40))
    error = np.linalg.norm(
        rng.normal(size=(300, 40, 3)) * (sigma / np.sqrt(3))[..., None], axis=-1
    )
    worst = error.argmax(axis=1)
    rows = np.arange(300)
    c = calibrate(sigma[rows, worst], error[rows, worst], quantity="force", unit="eV/Å")
    assert c.miscalibration_area > AREA_LIMIT
    assert c.flag() == ""
    energy = calibrate(
        sigma[rows, worst], error[rows, worst], quantity="energy", unit="eV"
    )
    assert energy.flag() != ""  # the same numbers read as a scalar error


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="2 uncertainties for 3 errors"):
        conformal_factor([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="no structures"):
        miscalibration_area([], [])
    with pytest.raises(ValueError, match=">= 0"):
        coverage([-1.0], [1.0], 2.0)
    with pytest.raises(ValueError, match="finite"):
        calibration_curve([np.nan], [1.0])
    with pytest.raises(ValueError, match="alpha must be in"):
        conformal_factor([1.0], [1.0], alpha=1.5)
    with pytest.raises(ValueError, match="3 group labels for 2 values"):
        calibrate([1.0, 2.0], [1.0, 2.0], quantity="f", unit="u", groups=[0, 0, 1])
    with pytest.raises(ValueError, match="aggregate must be one of max, mean, p95"):
        aggregate([1.0], "median")


def test_aggregates():
    values = np.arange(1.0, 101.0)
    assert aggregate(values) == 100.0
    assert aggregate(values, "mean") == 50.5
    assert aggregate(values, "p95") == pytest.approx(95.05)


class _Model:
    """Enough of a committee model for :func:`predict`: its calculator."""

    def __init__(self, calc):
        self.calc = calc

    def calculator(self):
        return self.calc


def _test_set(n=12):
    structures, refs = [], []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
        atoms.rattle(0.05 + 0.02 * k, seed=k)
        atoms.calc = EMT()
        refs.append(Labelled(atoms.get_potential_energy(), atoms.get_forces(), "x"))
        atoms.calc = None
        structures.append(atoms)
    return structures, refs


def test_a_committee_of_identical_members_is_flagged():
    """Members made identical: σ = 0 everywhere while the errors (against a
    perturbed EMT reference) are not — no scale can cover them."""
    structures, _ = _test_set()
    perturbed = perturbed_emt_members(1, ["Cu"], relative_std=0.05, rng=1)[0]
    refs = []
    for atoms in structures:
        probe = atoms.copy()
        probe.calc = perturbed
        refs.append(Labelled(probe.get_potential_energy(), probe.get_forces(), "x"))
    preds = predict(_Model(Committee([EMT(), EMT()])), structures)
    assert all(p.sigma == 0 and np.all(p.forces_sigma == 0) for p in preds)
    found = calibrations(refs, preds)
    for quantity in ("energy", "force", "force_atoms"):
        assert found[quantity].factor == math.inf
        assert found[quantity].miscalibration_area == pytest.approx(0.5, abs=0.011)
        assert "zero everywhere" in found[quantity].flag()


def test_a_real_committee_gets_energy_and_force_calibration():
    structures, refs = _test_set()
    preds = predict(_Model(emt_committee(4, ["Cu"], rng=0)), structures)
    found = calibrations(refs, preds, aggregate="mean", alpha=0.2)
    assert set(found) == {"energy", "force", "force_atoms"}
    atoms = found["force_atoms"]
    assert atoms.aggregate == "atoms" and atoms.count == 12 * 32
    assert atoms.held_out == 6 * 32  # half the structures, all their atoms
    force = found["force"]
    assert force.aggregate == "mean" and force.unit == "meV/Å" and force.count == 12
    assert 0 < force.factor < math.inf and sum(force.curve_count) == 12
    # the per-structure values are the mean over atoms of σ_F and |ΔF|
    first = preds[0]
    sigma = 1e3 * first.forces_sigma.mean()
    error = 1e3 * np.linalg.norm(first.forces - refs[0].forces, axis=1).mean()
    assert sigma > 0 and error > 0
    # a one-member model has no spread: nothing to calibrate
    assert calibrations(refs, predict(_Model(EMT()), structures)) == {}
