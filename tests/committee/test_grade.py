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


def test_the_active_set_grows_with_the_data_and_round_trips(tmp_path):
    train = emt_cells(4, seed=0)
    grade = ExtrapolationGrade.from_training(Linear(), train)
    far = train[0].copy()
    far.positions *= 3.0
    assert grade.structure(Linear(), far) > 1.5
    grown = grade.update(Linear(), [far])
    assert grown.structure(Linear(), far) <= 1.01  # now inside
    for atoms in train:  # and the old data still interpolated
        assert grown.structure(Linear(), atoms) <= 1.01
    path = grown.save(tmp_path)
    assert path.name == "grade.npz"
    loaded = ExtrapolationGrade.load(tmp_path)
    for atoms in [*train, far]:
        np.testing.assert_allclose(
            loaded.atoms(Linear(), atoms), grown.atoms(Linear(), atoms), rtol=1e-12
        )


def test_tail_threshold_by_hand():
    from hyperal.committee.grade import tail_threshold

    # ln scores 0, 0, 1, 2, -1: median 0, RMS deviation sqrt(6/5)
    scores = np.exp([0.0, 0.0, 1.0, 2.0, -1.0])
    assert tail_threshold(scores) == pytest.approx(1.5 * np.sqrt(6 / 5))
    with pytest.raises(ValueError, match="finite and > 0"):
        tail_threshold([1.0, 0.0])


def test_select_tail_draws_until_n_lie_in_the_tail_and_splits_80_20():
    from ase import Atoms

    from hyperal.committee.grade import select_tail, tail_threshold

    rng = np.random.default_rng(0)

    def candidates():
        while True:  # ln score ~ N(0, 1): the tail is about 7 % of draws
            atoms = Atoms("Cu")
            atoms.info["score"] = float(np.exp(rng.normal()))
            yield atoms

    picked = select_tail(candidates(), lambda a: a.info["score"], 40, rng=1)
    assert len(picked.train) == 32 and len(picked.test) == 8
    assert picked.threshold == pytest.approx(tail_threshold(picked.scores))
    chosen = [a.info["score"] for a in picked.train + picked.test]
    assert len(set(chosen)) == 40
    assert all(np.log(s) > picked.threshold for s in chosen)
    # the threshold of N(0, 1): 1.5 σ, so about 40 / 0.067 ≈ 600 draws
    assert 300 < picked.drawn < 1200
    assert picked.threshold == pytest.approx(1.5, abs=0.25)
    with pytest.raises(ValueError, match="lie in the tail"):
        select_tail(
            (Atoms("Cu", info={"score": 1.0}) for _ in range(60)),
            lambda a: a.info["score"],
            5,
        )


def test_a_short_tail_takes_the_highest_scores_when_asked():
    from ase import Atoms

    from hyperal.committee.grade import select_tail

    flat = [Atoms("Cu", info={"score": 1.0 + 1e-3 * k}) for k in range(60)]
    picked = select_tail(
        iter(flat), lambda a: a.info["score"], 5, max_drawn=60, short_tail="top", rng=0
    )
    assert not picked.complete and picked.drawn == 60
    chosen = sorted(a.info["score"] for a in picked.train + picked.test)
    assert chosen == pytest.approx([1.055, 1.056, 1.057, 1.058, 1.059])
