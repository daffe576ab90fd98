"""Early stopping: a campaign whose committee stops improving stops (and says
why, in the store, the status and the report; a rerun stops at the same loop
without a new oracle call); one whose errors fall goes on; the calibrated-σ
criterion stops or not by its threshold."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from hyperal.campaign import Campaign, parse_config
from hyperal.campaign.stopping import predicted, stopped
from hyperal.cli.main import app
from hyperal.report import stop_line
from hyperal.runs import Store
from hyperal.runs.query import Where
from hyperal.runs.records import Split, Stage
from tests.campaign.conftest import tiny

#: a committee that cannot learn: every loop's fit leaves the weights as they
#: were, so the difficult-set error is flat
FROZEN = {"learning_rate": 1e-12, "final_learning_rate": 1e-12}


def _run(data):
    return Campaign(parse_config(data)).run()


def test_flat_errors_stop_the_campaign_and_it_says_why(tmp_path):
    committee = {**tiny(tmp_path)["committee"], "fit": {"epochs": 5, **FROZEN}}
    data = tiny(
        tmp_path,
        loops=4,
        committee=committee,
        stop={"improvement": 0.05, "patience": 1},
    )
    # fit.epochs only: both spellings of epochs at once are refused
    del data["committee"]["epochs"]
    metrics = _run(data)
    store = Store(data["store"])
    assert [m.loop for m in metrics] == [0, 1]  # loop 1 met the rule
    found = stopped(store, "main")
    assert found["loop"] == 1
    assert "difficult-set force RMSE fell by" in found["reason"]
    assert "less than stop.improvement 5%" in found["reason"]
    assert [f.loop for f in store.final()] == [0, 1]
    calls = store.oracle_calls()
    # a rerun stops at the same loop and labels nothing new
    assert [m.loop for m in _run(data)] == [0, 1]
    assert store.oracle_calls() == calls
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    status = runner.invoke(app, ["status", str(config)], terminal_width=300)
    assert status.exit_code == 0 and "stopped early after loop 1" in status.output
    html = tmp_path / "r.html"
    assert runner.invoke(app, ["report", str(config), "-o", str(html)]).exit_code == 0
    assert "stopped early after loop 1" in html.read_text()


def test_falling_errors_do_not_stop_it(tmp_path):
    """The same campaign with a committee that learns: the difficult-set
    force error of loop 1 is well below loop 0's on the same structures."""
    data = tiny(tmp_path, loops=2, stop={"improvement": 0.05, "patience": 1})
    metrics = _run(data)
    assert [m.loop for m in metrics] == [0, 1, 2]
    store = Store(data["store"])
    assert stopped(store, "main") is None
    first, last = store.final()[0], store.final()[-1]
    assert (
        last.errors("difficult").force_rmse_meV_A
        < 0.95 * first.errors("difficult").force_rmse_meV_A
    )


@pytest.mark.parametrize(("threshold", "stops"), [(1e6, True), (1e-9, False)])
def test_the_calibrated_sigma_rule(tmp_path, threshold, stops):
    # the tiny sets hold a handful of structures, too few for a finite
    # per-structure factor at α = 0.05: the per-atom factor is taken
    data = tiny(tmp_path, loops=2, stop={"force_sigma_eV_A": threshold, "share": 0.9})
    metrics = _run(data)
    store = Store(data["store"])
    found = stopped(store, "main")
    # every loop records how many selected frames were predicted above target
    left = predicted(store, "main")
    assert [x["loop"] for x in left] == [m.loop for m in metrics][1:]
    for x in left:
        frames = store.rows(
            Where(loop=x["loop"], stage=Stage.SELECTED, split=Split.TRAIN, run="main")
        )
        assert x["frames"] == len(frames) > 0
        assert x["above"] == (0 if stops else x["frames"])
    line = stop_line(store)
    assert f"{left[-1]['above']} of {left[-1]['frames']} selected frames" in line
    if stops:
        assert [m.loop for m in metrics] == [0, 1] and found["loop"] == 1
        assert "calibrated force σ below stop.force_sigma_eV_A" in found["reason"]
        assert "fitted on its gentle set, atoms" in found["reason"]
    else:
        assert [m.loop for m in metrics] == [0, 1, 2] and found is None


def test_stop_settings_are_checked_and_do_not_bind_the_store(tmp_path):
    from hyperal.runs.settings import ConfigError

    with pytest.raises(ConfigError, match="stop.improvement"):
        parse_config(tiny(tmp_path, stop={"improvement": 1.5}))
    with pytest.raises(ConfigError, match="stop.share"):
        parse_config(tiny(tmp_path, stop={"force_sigma_eV_A": 0.1, "share": 0}))
    with pytest.raises(ConfigError, match="stop.patience"):
        parse_config(tiny(tmp_path, stop={"improvement": 0.1, "patience": 0}))
