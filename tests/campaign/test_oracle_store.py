"""The oracle and the store."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT

from hyperal.oracle import Label, Oracle
from hyperal.runs.query import Row, Where
from hyperal.runs.records import OracleStatus, Split, Stage
from hyperal.runs.results import LoopMetrics
from hyperal.runs.store import Store
from tests.helpers import rattled_cuni


def test_emt_oracle_labels():
    atoms = rattled_cuni()
    label = Oracle("emt").label(atoms)
    reference = atoms.copy()
    reference.calc = EMT()
    assert label.ok and label.oracle == "emt" and label.attempts == 1
    assert label.energy == pytest.approx(reference.get_potential_energy())
    np.testing.assert_allclose(label.forces, reference.get_forces())
    assert atoms.calc is None  # the input is not touched
    stressed = Oracle("ase.calculators.emt.EMT", stress=True).label(atoms)
    assert stressed.ok and stressed.stress.shape == (6,)


def test_flaky_failures_are_labels_with_reasons():
    oracle = Oracle("hyperal.testing:FlakyEMT", {"every": 2})
    labels = [oracle.label(rattled_cuni(seed=k)) for k in range(30)]
    failed = [label for label in labels if not label.ok]
    assert 0 < len(failed) < len(labels)
    for label in failed:
        assert label.energy is None and label.forces is None and label.reason
    reasons = " | ".join(label.reason for label in failed)
    assert "RuntimeError: SCF failed" in reasons
    assert "non-finite forces" in reasons
    assert "no convergence" in reasons


def test_retries_and_timeout():
    sleepy = Oracle(
        "hyperal.testing:SleepyEMT",
        {"seconds": 0.5},
        timeout_s=0.1,
        retries=1,
    )
    label = sleepy.label(rattled_cuni())
    assert not label.ok and "timed out after 0.1 s" in label.reason
    assert label.attempts == 2 and label.seconds < 0.5
    fast = Oracle("hyperal.testing:SleepyEMT", {"seconds": 0.01}, timeout_s=2.0)
    assert fast.label(rattled_cuni()).ok


def test_unknown_oracles_are_refused():
    with pytest.raises(ValueError, match="neither a registered oracle"):
        Oracle("vasp")
    with pytest.raises(ValueError, match="cannot import"):
        Oracle("no_such_module.Calculator")
    with pytest.raises(ValueError, match="retries"):
        Oracle("emt", retries=-1)


def test_store_round_trip(tmp_path):
    store = Store(tmp_path / "c.db")
    a, b = rattled_cuni(seed=1), rattled_cuni(seed=2)
    ids = store.add(
        [
            (a, Row("a", "main", Stage.START, 1, Split.DIFFICULT)),
            (
                b,
                Row(
                    "b",
                    "main",
                    Stage.SELECTED,
                    1,
                    Split.TRAIN,
                    about={"uncertainty": 0.3},
                ),
            ),
        ]
    )
    assert store.count(Where(status=OracleStatus.PENDING)) == 2
    store.record_label(ids[0], Oracle("emt").label(a))
    store.record_label(ids[1], Label("failed", reason="SCF failed", oracle="emt"))
    (labelled,) = store.labelled(split="difficult")
    expected = Oracle("emt").label(a)
    assert labelled.info["name"] == "a"
    assert labelled.calc.results["energy"] == pytest.approx(expected.energy, abs=1e-12)
    np.testing.assert_allclose(labelled.calc.results["forces"], expected.forces)
    assert store.labelled(split="train") == []  # a failed label never becomes data
    (row,) = store.rows(Where(name="b"))
    assert row.oracle_status == "failed" and row.oracle_reason == "SCF failed"
    first = LoopMetrics(loop=1, oracle_calls=2, oracle_failures=1, n_train=3)
    store.add_metrics(first)
    store.add_metrics(first.model_copy(update={"n_train": 4}))  # replaces
    assert store.metrics() == [first.model_copy(update={"n_train": 4})]
    assert store.metrics(run="other") == []
    # another run's metrics of the same loop are its own: replacing one run's
    # row leaves the other's
    other = LoopMetrics(
        loop=1, run="other", oracle_calls=9, oracle_failures=0, n_train=7
    )
    store.add_metrics(other)
    store.add_metrics(first)
    assert store.metrics(run="other") == [other]
    assert store.metrics() == [first]
    with pytest.raises(ValueError, match="split"):
        store.add([(a, Row("c", "main", Stage.START, 1, "validation"))])


def test_the_structure_key_tells_species_apart():
    """Same positions, cell and pbc but other elements: another structure
    (a label is never copied to it)."""
    from hyperal.runs.store import structure_key

    a = rattled_cuni(seed=1)
    b = a.copy()
    b.numbers = b.numbers[::-1]
    assert not np.array_equal(a.numbers, b.numbers)
    assert structure_key(a) != structure_key(b)
    c = a.copy()
    c.positions[0, 0] += 1e-3
    assert structure_key(a) != structure_key(c)
    assert structure_key(a) == structure_key(a.copy())


def test_a_label_is_not_reused_for_other_species(tmp_path):
    store = Store(tmp_path / "c.db")
    a = rattled_cuni(seed=1)
    b = a.copy()
    b.numbers = b.numbers[::-1]
    first, second = store.add(
        [
            (a, Row("a", "main", Stage.START, 0)),
            (b, Row("b", "main", Stage.START, 0)),
        ]
    )
    store.record_label(first, Oracle("emt").label(a))
    assert not store.reuse_label(second)
