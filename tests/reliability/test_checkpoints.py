"""A poisoned committee — non-finite weights or normalisation — is never
saved and never loaded, and a campaign stops with one line instead."""

from __future__ import annotations

import pytest
import torch

from hyperal.models import checkpoint as ckpt
from hyperal.models.options import BPNNOptions
from hyperal.models.registry import get_backend
from hyperal.testing import emt_cells

OPTIONS = BPNNOptions(n_members=2, hidden=(4,), cutoff_A=4.0, fit={"epochs": 3})


def _fitted():
    model = get_backend("bpnn").build(("Cu", "Ni"), OPTIONS, seed=0)
    report = model.fit(emt_cells(6), OPTIONS.fit, seed=0)
    return model, report


def _poison(model, what: str):
    with torch.no_grad():
        if what == "weights":
            next(iter(model.model.network.parameters())).fill_(float("nan"))
        else:
            model.model.feature_std.fill_(float("nan"))


@pytest.mark.parametrize("what", ["weights", "normalisation"])
def test_a_poisoned_committee_is_neither_saved_nor_loaded(tmp_path, monkeypatch, what):
    model, report = _fitted()
    good = ckpt.write_checkpoint(model, tmp_path / "good", options=OPTIONS, seed=0)
    assert ckpt.poisoned(ckpt.load_checkpoint(good)) == ""
    _poison(model, what)
    with pytest.raises(
        ValueError, match="not saving bad: the committee predicts non-finite"
    ):
        ckpt.write_checkpoint(model, tmp_path / "bad", options=OPTIONS, seed=0)
    assert not (tmp_path / "bad").exists()
    # a poisoned checkpoint whose hashes agree (written by something else)
    monkeypatch.setattr(ckpt, "poisoned", lambda model: "")
    ckpt.write_checkpoint(model, tmp_path / "bad", options=OPTIONS, seed=0)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="non-finite .* refit it"):
        ckpt.load_checkpoint(tmp_path / "bad")
