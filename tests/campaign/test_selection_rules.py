"""Selection rules in a campaign: the audit share (a share of each loop's
labels drawn at random, and the exploring committee's error on them,
recomputable from the store) and the trust window."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from hyperal.campaign import Campaign, parse_config
from hyperal.campaign.audit import audit_estimate, audit_starts
from hyperal.cli.main import app
from hyperal.labels import reference
from hyperal.runs import Store
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus, Stage
from hyperal.runs.settings import ConfigError
from hyperal.runs.tasks import predict
from tests.campaign.conftest import tiny


def test_audit_starts_are_a_fixed_share_drawn_by_seed_and_loop():
    starts = list(range(3, 23))
    drawn = audit_starts(7, 2, starts, 0.25)
    assert len(drawn) == 5 and drawn <= set(starts)
    assert audit_starts(7, 2, reversed(starts), 0.25) == drawn  # order-free
    assert audit_starts(7, 3, starts, 0.25) != drawn  # another loop, others
    assert audit_starts(7, 2, starts, 0.0) == set()
    assert audit_starts(7, 2, [4], 0.2) == set()  # round(0.2) = 0


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    path = tmp_path_factory.mktemp("audit")
    data = tiny(path, selection={"random_share": 0.5})
    metrics = Campaign(parse_config(data)).run()
    return data, metrics, path


def test_a_share_of_each_loop_is_drawn_at_random_and_audited(audited):
    data, metrics, path = audited
    cfg = parse_config(data)
    store = Store(cfg.store)
    for loop in (1, 2):
        rows = store.rows(Where(loop=loop, stage=Stage.SELECTED, run="main"))
        evolved = {row.start_index for row in rows}
        marked = {row.start_index for row in rows if row.get("audit")}
        # exactly the drawn starts, half of the evolved ones
        assert marked == audit_starts(cfg.seed, loop, evolved, 0.5)
        assert len(marked) == round(0.5 * len(evolved)) > 0
        # the exploring committee's errors on the audit labels, recomputed
        labelled = [
            row.toatoms()
            for row in rows
            if row.get("audit") and row.oracle_status == OracleStatus.OK
        ]
        found = next(m for m in metrics if m.loop == loop).audit
        assert found is not None and found.all.count == len(labelled)
        images = [
            atoms
            for atoms in store.labelled(split="train", max_loop=loop, runs=["main"])
            if atoms.info.get("loop") == loop and atoms.info.get("audit")
        ]
        preds = predict(str(store.checkpoint_path(loop - 1)), images)
        squared = np.concatenate(
            [
                (p.forces - reference(a).forces).ravel() ** 2
                for a, p in zip(images, preds, strict=True)
            ]
        )
        assert found.all.force_rmse_meV_A == pytest.approx(
            1e3 * np.sqrt(squared.mean()), rel=1e-9
        )
        rmse, low, high, n = audit_estimate(found)
        assert n == len(images) and low <= rmse <= high
    assert next(m for m in metrics if m.loop == 0).audit is None


def test_status_prints_the_audit_and_the_stop_rule_needs_a_share(audited, tmp_path):
    data, metrics, path = audited
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["status", str(config)])
    assert result.exit_code == 0, result.output
    assert "audit loop 1: the exploring committee's force RMSE" in result.output
    assert "audit loop 2:" in result.output
    with pytest.raises(ConfigError, match="stop.audit_force_rmse_meV_A: needs"):
        parse_config(tiny(tmp_path, stop={"audit_force_rmse_meV_A": 50.0}))


def test_the_audit_stop_rule_stops_on_a_reachable_target(tmp_path):
    # a target far above any error stops after loop 1; the reason is stored
    data = tiny(
        tmp_path,
        loops=3,
        selection={"random_share": 0.5},
        stop={"audit_force_rmse_meV_A": 1e6},
    )
    metrics = Campaign(parse_config(data)).run()
    assert [m.loop for m in metrics] == [0, 1]
    stopped = Store(data["store"]).setting("stopped:main")
    assert stopped["loop"] == 1 and "audit estimate of loop 1" in stopped["reason"]


def test_audit_estimate_by_hand():
    from hyperal.runs.results import ErrorSummary, Parity, SplitErrors

    # two structures of 1 and 3 atoms, squared errors 3e-6 and 36e-6
    # eV²/Å²: each alone 1 and 2 meV/Å, together sqrt(39e-6 / 12)
    summary = ErrorSummary(
        count=2,
        energy_rmse_meV_atom=0.0,
        energy_mae_meV_atom=0.0,
        force_rmse_meV_A=1e3 * np.sqrt(39e-6 / 12),
        force_mae_meV_A=0.0,
        angle_mae_deg=0.0,
    )
    errors = SplitErrors(
        all=summary, parity=Parity(natoms=[1, 3], force_sse=[3e-6, 36e-6])
    )
    rmse, low, high, n = audit_estimate(errors)
    assert n == 2 and rmse == pytest.approx(1.8028, abs=1e-4)
    # a quarter of the resamples hold the first structure twice (1 meV/Å),
    # a quarter the second twice (2): the 95 % interval runs from 1 to 2
    assert low == pytest.approx(1.0) and high == pytest.approx(2.0)


def test_a_trust_window_campaign_labels_inside_the_window_at_equal_cost(tmp_path):
    data = tiny(
        tmp_path,
        loops=1,
        selection={
            "rule": "trust_window",
            "window": {"low": 0.3, "high": 0.7, "quantiles": True},
            "redundancy_filter": False,
        },
    )
    Campaign(parse_config(data)).run()
    store = Store(data["store"])
    rows = store.rows(Where(loop=1, stage=Stage.SELECTED, run="main"))
    chosen = [row for row in rows if row.split == "train"]
    skipped = [row for row in rows if row.split != "train"]
    low, high = chosen[0].window_low, chosen[0].window_high
    assert low < high
    # every label inside the window (score: sigma_U), as many labels as
    # evolutions (each gave qualified frames), some trajectories giving two
    assert chosen and all(low <= row.uncertainty <= high for row in chosen)
    assert len(chosen) == len({row.start_index for row in rows})
    for row in skipped:
        assert "trust window" in row.oracle_reason, row.oracle_reason


def test_a_density_aware_batch_campaign_keeps_the_cost(tmp_path):
    data = tiny(
        tmp_path,
        loops=1,
        selection={"batch": True, "batch_covers_training": True, "candidates": 3},
    )
    Campaign(parse_config(data)).run()
    rows = Store(data["store"]).rows(Where(loop=1, stage=Stage.SELECTED, run="main"))
    chosen = [row for row in rows if row.split == "train"]
    evolved = {row.start_index for row in rows}
    # as many labels as trajectories, chosen with the training set covered
    assert 0 < len(chosen) <= len(evolved)
    assert all(row.get("batch_rank") is not None for row in chosen)
    with pytest.raises(ConfigError, match="batch_covers_training: needs batch"):
        parse_config(tiny(tmp_path, selection={"batch_covers_training": True}))


def test_a_gamma_campaign_ranks_by_the_grade_saved_beside_the_checkpoint(tmp_path):
    from hyperal.committee.grade import ExtrapolationGrade
    from hyperal.runs.tasks import committee

    data = tiny(tmp_path, loops=1, selection={"score": "gamma"})
    Campaign(parse_config(data)).run()
    store = Store(data["store"])
    checkpoint = store.checkpoint_path(0)
    assert (checkpoint / ExtrapolationGrade.FILE).exists()
    model = committee(str(checkpoint))
    saved = ExtrapolationGrade.load(checkpoint)
    # the active set is the one of loop 0's training data
    train = store.labelled(split="train", max_loop=0, runs=["main"])
    again = ExtrapolationGrade.from_training(model, train)
    rows = store.rows(Where(loop=1, stage=Stage.SELECTED, run="main"))
    chosen = [row for row in rows if row.split == "train"]
    assert chosen
    for row in chosen:
        atoms = row.toatoms()
        assert row.selection_score == pytest.approx(
            saved.structure(model, atoms), rel=1e-9
        )
        assert row.selection_score == pytest.approx(
            again.structure(model, atoms), rel=1e-9
        )
