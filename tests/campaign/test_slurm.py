"""A campaign on a real single-node Slurm (slurmctld and slurmd on this
machine, started by the fixture): its labels run in worker jobs hyperal
submits itself, one job is cancelled mid-label, and nothing is lost or paid
twice. Skipped, with the reason, where Slurm cannot run."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from hyperal.campaign import Campaign, parse_config
from hyperal.runs.progress import StageKind
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus
from hyperal.runs.store import Store
from hyperal.testing import call_log
from tests.campaign.conftest import tiny
from tests.helpers import assert_same_rows, store_rows
from tests.slurm_node import start


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    pytest.importorskip("dask_jobqueue")
    node = start(tmp_path_factory.mktemp("slurm"))
    if isinstance(node, str):
        pytest.skip(node)
    yield node
    node.stop()


def _cancel_a_job_mid_label(slurm, log, cancelled: list, seconds: float):
    """At the first label report of loop 1: cancel the worker job of an
    oracle call that began less than a third of its ``seconds`` ago — so it
    cannot finish while scancel reaches the job (a call picked at random
    among the running ones could be a moment from its end: CI once saw the
    cancelled call finish)."""

    def progress(report):
        if cancelled or report.kind != StageKind.LABEL or report.loop != 1:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            fresh = [
                c
                for c in call_log(log)
                if not c["finished"]
                and c["job"]
                and time.time() - c["started"] < seconds / 3
            ]
            if fresh:
                slurm.run("scancel", fresh[-1]["job"])
                cancelled.append(fresh[-1])
                return
            time.sleep(0.05)

    return progress


@pytest.mark.slow
def test_a_campaign_on_slurm_loses_nothing_to_a_cancelled_worker(
    slurm, tmp_path, monkeypatch
):
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    logs = {name: tmp_path / name for name in ("slurm-calls", "ref-calls", "jobs")}
    for folder in logs.values():
        folder.mkdir()

    def oracle(log, seconds):
        kwargs = {"log": str(log), "seconds": seconds}
        return {"name": "hyperal.testing:CallLogEMT", "kwargs": kwargs}

    executor = {
        "kind": "slurm",
        "max_jobs": 2,
        "cores": 1,
        "memory": "2GB",
        "walltime": "00:20:00",
        "log_directory": str(logs["jobs"]),
    }
    data = tiny(
        tmp_path, loops=1, oracle=oracle(logs["slurm-calls"], 1.5), executor=executor
    )
    cancelled: list = []
    before = set(slurm.submitted())  # the module's node: another test's jobs
    campaign = Campaign(
        parse_config(data),
        progress=_cancel_a_job_mid_label(
            slurm, logs["slurm-calls"], cancelled, seconds=1.5
        ),
    )
    metrics = campaign.run()
    assert [m.loop for m in metrics] == [0, 1]
    assert cancelled, "no oracle call was running to cancel"

    (tmp_path / "ref").mkdir()
    reference = tiny(
        tmp_path / "ref",
        loops=1,
        oracle=oracle(logs["ref-calls"], 0.0),
        executor={"kind": "inprocess", "background_labels": False},
    )
    Campaign(parse_config(reference)).run()
    # the same labels as in process, none left pending
    assert_same_rows(store_rows(data["store"]), store_rows(reference["store"]))
    assert Store(data["store"]).count(Where(status=OracleStatus.PENDING)) == 0
    calls = call_log(logs["slurm-calls"])
    finished = Counter(c["structure"] for c in calls if c["finished"])
    expected = Counter(c["structure"] for c in call_log(logs["ref-calls"]))
    # the cancelled call was cut short, and its structure labelled once elsewhere
    cut = [c for c in calls if c == {**cancelled[0], "finished": False}]
    assert cut, "the cancelled job's call finished after all"
    assert finished[cancelled[0]["structure"]] == 1
    # every structure labelled to the end exactly as often as in process:
    # 0 oracle calls repeated for a stored structure
    assert finished == expected
    # the labels ran in Slurm jobs, and the cancelled job was replaced: the
    # pool submitted a third (counted in slurmctld's log — its own output
    # file appears only once it starts, and the campaign may end before that)
    assert None not in {c["job"] for c in calls}
    assert len(set(slurm.submitted()) - before) >= 3, slurm.submitted()


def test_slurm_where_no_job_can_be_submitted_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("dask_jobqueue")
    from hyperal.runs.context import RunError

    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch on it
    data = tiny(tmp_path, loops=1, executor={"kind": "slurm"})
    with pytest.raises(RunError, match="sbatch, which this machine does not have"):
        Campaign(parse_config(data)).run()
    assert Store(data["store"]).count(Where()) == 0  # nothing labelled
