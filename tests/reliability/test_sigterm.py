"""SIGTERM (a batch system's time limit) stops a run with process workers:
no worker outlives it, the store's lock is free, and a rerun resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import yaml

from hyperal.runs import Store
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus, Stage
from tests.campaign.conftest import tiny


def test_sigterm_stops_the_process_workers_and_frees_the_store(tmp_path):
    data = tiny(
        tmp_path,
        oracle={"name": "hyperal.testing:SleepyEMT", "kwargs": {"seconds": 0.5}},
        initial={"structures": 4, "relax_steps": 6},
        executor={"kind": "process", "workers": 2},
        loops=1,
    )
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    command = [sys.executable, "-m", "hyperal.cli.main", "run", str(config)]
    run = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path
    )
    parent = psutil.Process(run.pid)
    deadline = time.time() + 120
    store = Store(data["store"])
    # wait until the workers have stored a first label (they are mid-work)
    while time.time() < deadline and not store.count(Where(stage=Stage.INITIAL)):
        time.sleep(0.2)
    workers = parent.children(recursive=True)
    assert len(workers) >= 2, "the process workers did not start"
    os.kill(run.pid, signal.SIGTERM)
    output = run.communicate(timeout=60)[0].decode()
    assert run.returncode == 143, output
    assert "error: terminated (SIGTERM; what was stored is kept" in output
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert alive == [], f"workers outlived the run: {alive}"
    kept = store.count(Where(stage=Stage.INITIAL))
    # the lock is free: the rerun takes the store and resumes from what was stored
    rerun = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert store.count(Where(stage=Stage.INITIAL)) >= kept
    assert store.count(
        Where(stage=Stage.INITIAL, status=OracleStatus.OK)
    ) == store.count(Where(stage=Stage.INITIAL))
