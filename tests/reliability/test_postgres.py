"""A campaign in a real PostgreSQL store: a throw-away server (Debian's
postgresql package; skipped, saying why, where none is installed), a run
killed mid-way and resumed with nothing lost or duplicated, one writer at a
time, checkpoints in a folder of the campaign's own."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus, Stage
from tests.campaign.conftest import tiny

pytest.importorskip("psycopg2", reason="the postgres extra (psycopg2) is not installed")
pytest.importorskip(
    "ase_db_backends", reason="the postgres extra (ase-db-backends) is not installed"
)


def _tool(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as `postgres`."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if (
        runuser is None
        or subprocess.run(["id", "postgres"], capture_output=True).returncode
    ):
        pytest.skip("running as root without a `postgres` user to run the server as")
    return [runuser, "-u", "postgres", "--"]


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("no PostgreSQL server installed (Debian: apt install postgresql)")
    prefix = _as_server_user()
    folder = Path(tempfile.mkdtemp(prefix="hyperal-pg-"))
    if prefix:
        shutil.chown(folder, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = folder / "data"
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = f"-k {folder} -p {port} -h 127.0.0.1 -F"
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _config(tmp_path, url) -> Path:
    data = tiny(
        tmp_path,
        oracle={"name": "hyperal.testing:SleepyEMT", "kwargs": {"seconds": 0.05}},
        initial={"structures": 3, "relax_steps": 4},
        counts={"derived_metal": 3, "derived_oxide": 0, "random": 1},
        loops=2,
    )
    data["store"] = url
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _hyperal(*args, cwd, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "hyperal.cli.main", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_a_killed_postgres_campaign_resumes_without_loss_or_duplicates(
    tmp_path, postgres_url, monkeypatch
):
    from hyperal.runs import Store

    monkeypatch.chdir(tmp_path)  # where the runs start: the checkpoints' folder
    config = _config(tmp_path, postgres_url)
    run = _hyperal("run", str(config), cwd=tmp_path)
    store = Store(postgres_url)
    deadline = time.time() + 180
    while time.time() < deadline and not store.count(Where(stage=Stage.SELECTED)):
        time.sleep(0.2)  # killed in loop 1, with loop-0 labels and some of loop 1
    # one writer: a second run on the same database is refused at once
    second = _hyperal("run", str(config), cwd=tmp_path)
    output = second.communicate(timeout=120)[0]
    assert second.returncode == 2, output
    assert "the store is being written by pid" in " ".join(output.split())
    run.send_signal(signal.SIGKILL)
    run.wait()
    labelled = {
        row.name: (row.energy, row.forces.tobytes())
        for row in store.rows(Where(status=OracleStatus.OK))
    }
    assert labelled
    resumed = _hyperal("run", str(config), cwd=tmp_path)
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    rows = store.rows()
    names = [row.name for row in rows]
    assert len(names) == len(set(names))  # nothing duplicated
    now = {
        row.name: (row.energy, row.forces.tobytes())
        for row in rows
        if row.get("oracle_status") == "ok"
    }
    assert all(now[name] == value for name, value in labelled.items())  # none lost
    assert [m.loop for m in store.metrics()] == [0, 1, 2]
    # checkpoints in the campaign database's own folder, in the working directory
    port = postgres_url.rsplit(":", 1)[1].split("/")[0]
    folder = tmp_path / f"postgres@127.0.0.1-{port}.checkpoints"
    assert store.checkpoints == folder
    assert (folder / "main" / "loop-2" / "manifest.json").is_file()
    assert not (tmp_path / "campaign.checkpoints").exists()


def test_a_postgres_store_that_cannot_be_reached_is_one_line(tmp_path):
    from hyperal.runs import Store
    from hyperal.runs.store import StoreError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    with pytest.raises(
        StoreError, match=r"postgres:\*\*\*@127.0.0.1:\d+/db: cannot connect"
    ):
        Store(f"postgresql://postgres:secret@127.0.0.1:{port}/db")
