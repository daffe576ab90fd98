"""Diversity analyses: PCA, bond lengths and angles, trajectory motion —
each against a hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from hyperal.diversity import (
    atomic_feature_matrix,
    bond_angles,
    bond_lengths,
    pca,
    trajectory_motion,
)


def test_pca_of_points_on_a_line_and_a_plane():
    t = np.linspace(-1, 1, 11)
    line = np.stack([t, 2 * t, 0 * t], axis=1) + [1.0, 2.0, 3.0]
    scores, ratio, mean, vectors = pca(line)
    assert ratio == pytest.approx([1.0, 0.0])
    np.testing.assert_allclose(mean, [1, 2, 3], atol=1e-12)
    np.testing.assert_allclose(np.abs(vectors[0]), np.array([1, 2, 0]) / np.sqrt(5))
    np.testing.assert_allclose(np.abs(scores[:, 0]), np.abs(t) * np.sqrt(5), atol=1e-12)
    # variances 4 : 1 along x and y
    plane = np.array([[2, 0, 0], [-2, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=float)
    scores, ratio, _, vectors = pca(plane)
    assert ratio == pytest.approx([0.8, 0.2])
    np.testing.assert_allclose(vectors, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    np.testing.assert_allclose(scores[:, 0], [2, -2, 0, 0], atol=1e-12)
    # more components than the rank: zeros, not noise
    _, ratio, _, vectors = pca(plane[:2], components=3)
    assert ratio == pytest.approx([1, 0, 0]) and not vectors[1:].any()
    with pytest.raises(ValueError, match="n >= 2"):
        pca(np.zeros((1, 3)))


def test_bond_lengths_and_angles_of_fcc_and_a_water_like_molecule():
    a = 3.6
    fcc = bulk("Cu", "fcc", a=a, cubic=True)  # 4 atoms, 12 neighbours each
    d = bond_lengths(fcc, cutoff_A=3.0)
    assert len(d) == 4 * 12 // 2
    np.testing.assert_allclose(d, a / np.sqrt(2))
    angles = bond_angles(fcc, cutoff_A=3.0)
    assert len(angles) == 4 * 66  # C(12, 2) per atom
    # fcc first-shell angles: 60° ×24, 90° ×12, 120° ×24, 180° ×6 per atom
    counts = {k: int(np.sum(np.isclose(angles, k))) for k in (60, 90, 120, 180)}
    assert counts == {60: 4 * 24, 90: 4 * 12, 120: 4 * 24, 180: 4 * 6}
    bent = Atoms("OH2", positions=[[0, 0, 0], [1, 0, 0], [np.cos(2.0), np.sin(2.0), 0]])
    assert bond_angles(bent, cutoff_A=1.2) == pytest.approx([np.degrees(2.0)])
    assert sorted(bond_lengths(bent, cutoff_A=1.2)) == pytest.approx([1.0, 1.0])
    assert len(bond_angles(Atoms("H"), cutoff_A=1.0)) == 0


def test_trajectory_motion_by_hand_across_the_boundary():
    start = Atoms("H2", positions=[[0.1, 0, 0], [2, 2, 2]], cell=[4, 4, 4], pbc=True)
    frames = [start.copy() for _ in range(3)]
    frames[1].positions[0] = [3.9, 0, 0]  # 0.2 Å back across the boundary
    frames[2].positions[0] = [3.9, 0, 0]
    frames[2].positions[1] = [2, 2, 2.6]
    steps, rmsd = trajectory_motion(frames)
    np.testing.assert_allclose(steps, [0.1, 0.3])  # mean over the 2 atoms
    np.testing.assert_allclose(
        rmsd, [0, np.sqrt(0.04 / 2), np.sqrt((0.04 + 0.36) / 2)], atol=1e-12
    )
    with pytest.raises(ValueError, match="same atoms"):
        trajectory_motion([start, start[:1]])


def test_feature_matrix_stacks_atoms_averaged_over_members():
    class Model:
        def atomic_features(self, atoms):
            n = len(atoms)
            return np.stack([np.ones((n, 3)), 3 * np.ones((n, 3))])  # M = 2

    images = [bulk("Cu", cubic=True), bulk("Cu")]
    matrix = atomic_feature_matrix(Model(), images)
    assert matrix.shape == (5, 3) and np.all(matrix == 2.0)


def test_feature_spread_is_the_mean_squared_distance_from_the_centroid():
    from hyperal.diversity import feature_spread

    assert feature_spread(np.array([[0.0, 0.0], [2.0, 0.0]])) == pytest.approx(1.0)
    # a square of side 2 around the origin: every corner sqrt(2) away
    square = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert feature_spread(square) == pytest.approx(2.0)
    assert feature_spread(np.ones((5, 3))) == 0.0
