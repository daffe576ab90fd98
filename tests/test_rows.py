"""Rows are written by type, with the keys they are selected by."""

import pytest
from ase.build import bulk

from hyperal.runs.query import Row, Where
from hyperal.runs.records import OracleStatus, Split, Stage, declare
from hyperal.runs.store import Store


def test_a_row_holds_the_keys_a_selection_reads(tmp_path):
    store = Store(tmp_path / "s.db")
    row = Row(
        "L1-sel-3",
        "main",
        Stage.SELECTED,
        1,
        Split.TRAIN,
        start_index=3,
        about={"source": "random", "uncertainty": 0.25},
    )
    (row_id,) = store.add([(bulk("Cu", cubic=True), row)])
    (found,) = store.rows(
        Where(run="main", stage="selected", loop=1, split=Split.TRAIN, start_index=3)
    )
    assert found.id == row_id
    assert found.oracle_status == OracleStatus.PENDING
    assert found.source == "random" and found.uncertainty == 0.25
    assert "frame" not in found.key_value_pairs  # None fields are left out
    skipped = row.replace(
        name="L1-sel-4", status="skipped", reason="x" * 600, about={"audit": 1}
    )
    pairs = skipped.pairs()
    assert pairs["oracle_status"] == "skipped"
    assert len(pairs["oracle_reason"]) == 500
    assert pairs["source"] == "random" and pairs["audit"] == 1  # about merged


def test_a_row_refuses_what_no_selection_could_find(tmp_path):
    with pytest.raises(ValueError, match="row split"):
        Row("a", "main", Stage.START, 0, "witheld")
    with pytest.raises(ValueError, match="row stage"):
        Row("a", "main", "hopp", 0)
    with pytest.raises(ValueError, match="repeats typed keys: oracle_status, split"):
        Row("a", "main", Stage.START, 0, about={"split": "train", "oracle_status": 1})
    store = Store(tmp_path / "s.db")
    with pytest.raises(TypeError, match="is a Row"):
        store.add([(bulk("Cu"), {"name": "a", "split": "train"})])
    (row_id,) = store.add([(bulk("Cu"), Row("a", "main", Stage.START, 0))])
    with pytest.raises(ValueError, match="row split"):
        store.update([(row_id, {"split": "trian"})])
    assert store.first(Where(name="a")).split == "none"  # nothing half-written


def test_a_workflow_declares_its_own_vocabulary():
    from enum import StrEnum

    from hyperal.runs.records import SPLITS

    class Toy(StrEnum):
        HELD = "toy_held"

    class Clash(StrEnum):
        TRAIN = "train"  # the kernel's already

    declare(splits=Toy)
    declare(splits=Toy)  # declaring the same members again is harmless
    try:
        assert Where(split="toy_held").split is Toy.HELD
        assert Row("a", "r", Stage.START, 0, "toy_held").pairs()["split"] == "toy_held"
        with pytest.raises(ValueError, match="registered already"):
            declare(splits=Clash)
    finally:
        SPLITS.unregister("toy_held")
