"""The D-optimality extrapolation grade on any backend's atomic features."""

from __future__ import annotations

import numpy as np
import pytest

from hyperal.committee.grade import ExtrapolationGrade, maxvol
from hyperal.models import get_backend
from hyperal.testing import emt_cells


def test_maxvol_finds_the_largest_volume_rows_by_hand():
    # rows 1 and 3 span the largest parallelogram: |det [[3, 0], [0, 2]]| = 6
    a = np.array([[1.0, 0.1], [3.0, 0.0], [0.5, 0.5], [0.0, 2.0], [1.0, 1.0]])
    assert sorted(maxvol(a).tolist()) == [1, 3]
    coords = a @ np.linalg.inv(a[[1, 3]])
    assert np.abs(coords).max() <= 1 + 1e-12  # every row inside the active set


class Linear:
    """A stand-in backend whose atomic features are (x, y, z) positions."""

    def atomic_features(self, atoms):
        return atoms.positions[None].copy()


def test_grade_is_at_most_one_inside_the_training_hull_and_above_outside():
    train = emt_cells(4, seed=0)
    grade = ExtrapolationGrade.from_training(Linear(), train)
    for atoms in train:
        assert grade.structure(Linear(), atoms) <= 1.01
    far = train[0].copy()
    far.positions *= 3.0
    assert grade.structure(Linear(), far) > 1.5


def test_grade_on_a_fitted_bpnn_flags_a_compressed_cell():
    backend = get_backend("bpnn")
    options = backend.parse_options(
        {"n_members": 2, "hidden": [6], "cutoff_A": 4.0, "fit": {"epochs": 20}}
    )
    model = backend.build(("Cu", "Ni"), options, seed=0)
    train = emt_cells(8)
    model.fit(train, options.fit)
    grade = ExtrapolationGrade.from_training(model, train)
    inside = max(grade.structure(model, a) for a in train)
    squeezed = train[0].copy()
    squeezed.set_cell(squeezed.cell * 0.8, scale_atoms=True)
    assert inside <= 1.01
    assert grade.structure(model, squeezed) > inside
    alien = train[0].copy()
    alien.symbols[0] = "Pd"
    with pytest.raises(ValueError, match="Pd"):
        grade.atoms(model, alien)
