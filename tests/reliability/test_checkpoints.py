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


def test_a_damaged_checkpoint_is_named_and_never_loaded(tmp_path):
    model, _ = _fitted()
    path = ckpt.write_checkpoint(model, tmp_path / "c", options=OPTIONS, seed=0)
    assert ckpt.damage(path) == ""
    (weights,) = [p for p in path.iterdir() if p.name != ckpt.MANIFEST]
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    assert (
        ckpt.damage(path) == f"{path}: {weights.name} is missing or changed since saved"
    )
    with pytest.raises(ValueError, match="is missing or changed since saved"):
        ckpt.load_checkpoint(path)
    (path / ckpt.MANIFEST).write_text("")  # empty (a full disk)
    assert ckpt.damage(path).startswith(f"{path}: manifest.json is empty or damaged")
    assert (
        ckpt.damage(tmp_path / "nothing")
        == f"{tmp_path / 'nothing'}: no checkpoint there"
    )


def test_a_campaign_refits_a_damaged_checkpoint_and_refuses_other_elements(tmp_path):
    """A damaged checkpoint of a finished loop is set aside and refitted from
    the stored labels; one fitted for other elements stops the run."""
    from dataclasses import replace

    from hyperal.campaign import parse_config
    from hyperal.campaign.stages import finished, initial_loop
    from hyperal.runs import InProcessExecutor, StageContext, Store
    from hyperal.runs.context import RunError
    from hyperal.runs.stages import fit
    from tests.campaign.conftest import tiny

    config = parse_config(tiny(tmp_path, initial={"structures": 2, "relax_steps": 2}))
    ctx = StageContext(
        config,
        Store(config.store),
        InProcessExecutor(),
        config.oracle.build(config.store),
    )
    path = initial_loop(ctx)
    assert finished(ctx, 0) == path
    (path / ckpt.MANIFEST).write_text("{")
    assert finished(ctx, 0) is None
    assert fit(ctx, 0) == path and ckpt.damage(path) == ""
    assert (path.parent / (path.name + ".damaged") / ckpt.MANIFEST).read_text() == "{"
    ckpt.load_checkpoint(path)
    other = replace(
        ctx,
        config=config.model_copy(
            update={
                "system": config.system.model_copy(
                    update={"elements": ["Cu", "Ni", "Pt"]}
                )
            }
        ),
    )
    with pytest.raises(RunError, match="fitted for the elements Cu, Ni, Pd, not"):
        fit(other, 0)
