"""Error metrics on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pytest

from hyperal import metrics


def test_force_angles_on_hand_made_vectors():
    reference = np.array(
        [
            [1.0, 0.0, 0.0],  # parallel
            [1.0, 0.0, 0.0],  # antiparallel
            [0.0, 2.0, 0.0],  # perpendicular
            [1.0, 0.0, 0.0],  # 45°
            [0.0, 0.0, 3.0],  # 60°
            [0.0, 0.0, 0.0],  # both zero
            [0.0, 0.0, 0.0],  # reference zero, prediction not
            [0.0, 1.0, 0.0],  # prediction zero, reference not
        ]
    )
    predicted = np.array(
        [
            [5.0, 0.0, 0.0],
            [-0.1, 0.0, 0.0],
            [3.0, 0.0, 0.0],
            [1.0, 1.0, 0.0],
            [0.0, np.sqrt(3.0), 1.0],
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.0, 0.0, 0.0],
        ]
    )
    angles = metrics.force_angles(predicted, reference)
    np.testing.assert_allclose(angles, [0, 180, 90, 45, 60, 0, 90, 90], atol=1e-12)


def test_force_angle_is_not_nan_when_rounding_pushes_the_cosine_past_one():
    reference = np.array([[-1.10333845, -0.72502464, -0.78180526]])
    predicted = reference * 1.577891538  # parallel up to rounding
    raw = np.einsum("ij,ij->i", predicted, reference) / (
        np.linalg.norm(predicted, axis=1) * np.linalg.norm(reference, axis=1)
    )
    assert raw[0] > 1.0  # this pair really exercises the clipping
    with np.errstate(invalid="ignore"):
        assert np.isnan(np.arccos(raw[0]))  # what an unclipped arccos would give
    assert metrics.force_angles(predicted, reference)[0] == 0.0


def test_force_angle_zero_tolerance_is_configurable():
    tiny = np.array([[1e-9, 0.0, 0.0]])
    unit = np.array([[0.0, 1.0, 0.0]])
    assert metrics.force_angles(tiny, unit)[0] == 90.0  # counted as zero
    assert metrics.force_angles(tiny, unit, zero_tol_eV_A=0.0)[0] == 90.0  # true 90°
    assert metrics.force_angles(tiny, -tiny, zero_tol_eV_A=0.0)[0] == 180.0
    assert metrics.force_angles(tiny, -tiny)[0] == 0.0  # both zero by default


def test_force_angle_errors_summarise_angles():
    reference = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    predicted = np.array([[0, 1.0, 0], [0, 1.0, 0]])
    stats = metrics.force_angle_errors(predicted, reference)
    assert (stats.mae, stats.max, stats.count, stats.unit) == (45.0, 90.0, 2, "deg")
    assert stats.rmse == pytest.approx(np.sqrt(90.0**2 / 2))


def test_energy_errors_are_per_atom():
    stats = metrics.energy_errors([-10.0, -20.5], [-10.2, -20.0], n_atoms=[2, 5])
    per_atom = np.array([0.1, -0.1])
    assert stats.mae == pytest.approx(0.1)
    assert stats.rmse == pytest.approx(np.sqrt(np.mean(per_atom**2)))
    assert stats.max == pytest.approx(0.1)
    assert stats.count == 2 and stats.unit == "eV/atom"
    mev = stats.scaled(1000.0, "meV/atom")
    assert mev.mae == pytest.approx(100.0) and mev.unit == "meV/atom"


def test_force_errors_accept_per_structure_lists():
    predicted = [np.zeros((2, 3)), np.ones((1, 3))]
    reference = [np.zeros((2, 3)), np.array([[1.0, 1.0, 4.0]])]
    stats = metrics.force_errors(predicted, reference)
    assert stats.count == 9
    assert stats.mae == pytest.approx(3.0 / 9)
    assert stats.rmse == pytest.approx(np.sqrt(9.0 / 9))
    assert stats.max == 3.0


def test_bad_metric_input_raises_clear_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.force_errors(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape \\(N, 3\\)"):
        metrics.force_angles(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="predicted contains NaN"):
        metrics.force_angles(np.full((1, 3), np.nan), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="reference is empty"):
        metrics.energy_errors([1.0], [], n_atoms=1)
    with pytest.raises(ValueError, match="differ in length"):
        metrics.energy_errors([1.0, 2.0], [1.0], n_atoms=1)
    with pytest.raises(ValueError, match="n_atoms must be > 0"):
        metrics.energy_errors([1.0], [1.0], n_atoms=0)
    with pytest.raises(ValueError, match="zero_tol_eV_A"):
        metrics.force_angles(np.ones((1, 3)), np.ones((1, 3)), zero_tol_eV_A=-1)


def test_uncertainty_rank_correlation_by_hand():
    from hyperal.metrics import uncertainty_rank_correlation

    sigma = [0.1, 0.2, 0.3, 0.4]
    assert uncertainty_rank_correlation(sigma, [1.0, -2.0, 3.0, 4.0]) == 1.0  # |err|
    assert uncertainty_rank_correlation(sigma, [4.0, 3.0, 2.0, 1.0]) == -1.0
    # ranks (1, 2, 3, 4) against (2, 1, 3, 4): 1 - 6·2 / (4·15) = 0.8
    assert uncertainty_rank_correlation(sigma, [2.0, 1.0, 3.0, 4.0]) == pytest.approx(
        0.8
    )
    assert np.isnan(uncertainty_rank_correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert np.isnan(uncertainty_rank_correlation([1.0, 2.0], [1.0, 2.0]))
    with pytest.raises(ValueError, match="3 uncertainties for 2 errors"):
        uncertainty_rank_correlation([1.0, 2.0, 3.0], [1.0, 2.0])
