"""The campaign end to end on a tiny system, its store, resume, executors, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from ase.io import read
from typer.testing import CliRunner

from hyperal.campaign import Campaign, Store, parse_config
from hyperal.cli.main import app
from tests.campaign.conftest import tiny


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    path = tmp_path_factory.mktemp("campaign")
    data = tiny(path)
    reports = []
    metrics = Campaign(parse_config(data), progress=reports.append).run()
    return data, metrics, reports, path


def test_tiny_campaign_runs_every_loop(finished):
    data, metrics, reports, _ = finished
    assert [m["loop"] for m in metrics] == [0, 1, 2]
    assert metrics[0]["gentle"]["all"]["count"] > 0 and not metrics[0]["difficult"]
    for m in metrics[1:]:
        assert m["difficult"]["all"]["count"] > 0
        assert m["n_selected"] + m["n_skipped"] == 7 - 1  # 7 starts, 1 difficult
        for key in ("energy_rmse_meV_atom", "force_rmse_meV_A", "angle_mae_deg"):
            assert np.isfinite(m["gentle"]["all"][key])
    # more oracle calls and more training data every loop
    calls = [m["oracle_calls"] for m in metrics]
    assert calls == sorted(calls) and calls[0] < calls[-1]
    assert metrics[-1]["n_train"] > metrics[0]["n_train"]
    stages = {r.stage for r in reports}
    assert {"initial data", "labelling difficult", "evaluated"} <= stages
    assert any(s.startswith("evolving (advb_md)") for s in stages)


def test_difficult_structures_never_train(finished):
    data, *_ = finished
    store = Store(data["store"])
    difficult = store.rows(split="difficult")
    assert difficult and all(r.stage == "start" for r in difficult)
    train = store.labelled(split="train")
    train_positions = {a.positions.round(6).tobytes() for a in train}
    assert not any(r.positions.round(6).tobytes() in train_positions for r in difficult)
    # the committee saw exactly the training rows
    assert metrics_train(store) == len(train)
    names = [r.name for r in store.rows()]
    assert len(names) == len(set(names))  # every structure once


def metrics_train(store):
    return store.metrics()[-1]["n_train"]


def test_rerun_of_a_finished_campaign_does_nothing(finished):
    data, metrics, *_ = finished
    store = Store(data["store"])
    before = store.count()
    again = Campaign(parse_config(data)).run()
    assert store.count() == before
    assert again == metrics


def test_selected_frames_carry_their_uncertainty(finished):
    data, *_ = finished
    store = Store(data["store"])
    for row in store.rows(stage="selected"):
        if row.oracle_status == "skipped":
            assert "no frame selected" in row.oracle_reason
        else:
            assert row.split == "train" and row.uncertainty > 0
            assert row.scheme == "advb_md"


def test_flaky_oracle_failures_are_recorded_and_skipped(tmp_path):
    data = tiny(
        tmp_path,
        oracle={"name": "hyperal.testing:FlakyEMT", "kwargs": {"every": 2}},
        loops=1,
    )
    metrics = Campaign(parse_config(data)).run()
    store = Store(data["store"])
    failed = store.rows(oracle_status="failed")
    assert failed and metrics[-1]["oracle_failures"] == len(failed)
    for row in failed:
        assert row.oracle_reason
        assert row.get("energy") is None  # no label stored
    names = {
        a.info["name"]
        for s in ("train", "gentle", "difficult")
        for a in store.labelled(split=s)
    }
    assert not names & {r.name for r in failed}


def test_cli_status_report_export(finished, tmp_path):
    data, metrics, _, path = finished
    config = path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    status = runner.invoke(app, ["status", str(config)])
    assert status.exit_code == 0 and "hyperal campaign" in status.output
    html = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(config), "-o", str(html)])
    assert result.exit_code == 0, result.output
    text = html.read_text()
    assert text.count("data:image/png;base64,") == 4 and "<table>" in text
    out = tmp_path / "train.extxyz"
    result = runner.invoke(app, ["export", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    images = read(out, index=":")
    assert len(images) == metrics[-1]["n_train"]
    assert (
        "REF_energy" in images[0].info and images[0].arrays["REF_forces"].shape[1] == 3
    )


@pytest.mark.parametrize("kind", ["process", "dask"])
def test_parallel_executors_give_the_in_process_result(tmp_path, kind):
    if kind == "dask":
        pytest.importorskip("dask.distributed")
    data = tiny(tmp_path, loops=1, executor={"kind": kind, "workers": 2})
    metrics = Campaign(parse_config(data)).run()
    (tmp_path / "ref").mkdir()
    reference = Campaign(parse_config(tiny(tmp_path / "ref", loops=1))).run()
    assert [m["oracle_calls"] for m in metrics] == [
        m["oracle_calls"] for m in reference
    ]
    # results arrive in any order; the fits read them by name: same model
    assert metrics[-1]["gentle"]["all"]["energy_rmse_meV_atom"] == pytest.approx(
        reference[-1]["gentle"]["all"]["energy_rmse_meV_atom"], rel=1e-5
    )


def test_stress_labels_when_asked(tmp_path):
    data = tiny(tmp_path, loops=1, oracle={"name": "emt", "stress": True})
    Campaign(parse_config(data)).run()
    labelled = Store(data["store"]).labelled(split=["train", "gentle", "difficult"])
    assert {a.info["stage"] for a in labelled} == {"initial", "start", "selected"}
    for atoms in labelled:
        assert atoms.calc.results["stress"].shape == (6,)
