"""One writer per store, a store belongs to one campaign, a store path that is
not an ase.db is refused — each before any oracle call, as one error line."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from hyperal.campaign import parse_config
from hyperal.cli.main import app
from hyperal.runs import Store
from hyperal.runs.lock import StoreLock, StoreLocked
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus, Stage
from tests.campaign.conftest import tiny

HOLD = """
import sys, time
from hyperal.runs.lock import StoreLock
with StoreLock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def _config(tmp_path, **overrides):
    data = tiny(
        tmp_path,
        loops=1,
        oracle={
            "name": "hyperal.testing:CountingEMT",
            "kwargs": {"log": str(tmp_path / "calls.log")},
        },
        **overrides,
    )
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, data


def _calls(tmp_path) -> int:
    log = tmp_path / "calls.log"
    return len(log.read_text().split()) if log.exists() else 0


def test_a_second_writer_is_refused_and_a_killed_ones_lock_is_taken_over(tmp_path):
    path, data = _config(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, data["store"] + ".lock"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = CliRunner().invoke(app, ["run", str(path)])
        assert result.exit_code == 2
        assert f"pid {holder.pid} on " in result.output
        assert "is being written by" in result.output
        assert "Traceback" not in result.output and _calls(tmp_path) == 0
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed run leaves its lock file
        holder.wait()
    assert (tmp_path / "campaign.db.lock").exists()
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert _calls(tmp_path) > 0


def test_the_lock_is_exclusive_within_a_process_too(tmp_path):
    with StoreLock(tmp_path / "s.lock"):
        with pytest.raises(StoreLocked, match=f"pid {os.getpid()}"):
            with StoreLock(tmp_path / "s.lock"):
                pass
    with StoreLock(tmp_path / "s.lock"):  # released on exit
        pass


def test_a_path_that_is_not_an_ase_db_is_never_written(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE samples (id INTEGER, name TEXT)")
    before = other.read_bytes()
    path, _ = _config(tmp_path, store=str(other))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert "an SQLite database that is not an ase.db (tables: samples)" in result.output
    assert other.read_bytes() == before and _calls(tmp_path) == 0
    text = tmp_path / "notes.db"
    text.write_text("my notes\n" * 100)
    path, _ = _config(tmp_path, store=str(text))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2 and "not an SQLite database" in result.output
    assert text.read_text() == "my notes\n" * 100
    for command in ("status", "report", "export"):
        result = CliRunner().invoke(app, [command, str(path)])
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_store_belongs_to_one_campaign(tmp_path):
    path, data = _config(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["run", str(path)]).exit_code == 0
    calls = _calls(tmp_path)

    def run_with(*args, **changes):
        changed = {**data, **changes}
        path.write_text(yaml.safe_dump(changed))
        return runner.invoke(app, ["run", str(path), *args])

    result = run_with(seed=7)
    assert result.exit_code == 2 and "other settings (seed)" in result.output
    assert "--accept-changes" not in result.output
    result = run_with(scheme={**data["scheme"], "steps": 12})
    assert result.exit_code == 2 and "(scheme.steps)" in result.output
    assert "pass --accept-changes to continue with new scheme.steps" in result.output
    system = {**data["system"], "elements": ["Cu", "Ni", "Pd", "Ag"]}
    result = run_with("--accept-changes", system=system)
    assert result.exit_code == 2 and "system.elements" in result.output
    assert _calls(tmp_path) == calls  # nothing refused called the oracle
    # more loops, other executor settings and oracle limits never count
    oracle = {**data["oracle"], "timeout_s": 60.0, "retries": 1}
    result = run_with(loops=2, oracle=oracle, executor={"background_labels": False})
    assert result.exit_code == 0, result.output
    assert [m.loop for m in Store(data["store"]).metrics()] == [0, 1, 2]
    # accepted: later loops follow the new exploration, the store records it
    result = run_with(
        "--accept-changes", loops=3, scheme={**data["scheme"], "steps": 12}
    )
    assert result.exit_code == 0, result.output
    stored = Store(data["store"]).setting("fingerprint:main")
    assert stored["scheme"]["steps"] == 12


def test_a_benchmark_store_belongs_to_one_benchmark(tmp_path):
    from hyperal.benchmark import Benchmark, BenchmarkConfig, VariantConfig
    from hyperal.runs.context import RunError
    from hyperal.runs.runner import claim

    base = parse_config(tiny(tmp_path))
    store = Store(tmp_path / "bench.db")
    bench = BenchmarkConfig(
        campaign={}, variants=[VariantConfig(name="md")], store=store.path
    )
    claim(store, Benchmark(bench, base).plan())
    # adding a variant (or replicates) is fine; changing one is not
    more = bench.model_copy(
        update={
            "variants": [*bench.variants, VariantConfig(name="ce")],
            "replicates": 5,
        }
    )
    claim(store, Benchmark(more, base).plan())
    changed = bench.model_copy(
        update={"variants": [VariantConfig(name="md", params={"alpha": 0.0})]}
    )
    with pytest.raises(RunError, match=r"\(variants\.md\.params\.alpha\)"):
        claim(store, Benchmark(changed, base).plan())
    other = base.model_copy(update={"seed": 3})
    with pytest.raises(RunError, match=r"\(campaign\.seed\)"):
        claim(store, Benchmark(bench, other).plan())
    longer = base.model_copy(update={"loops": 9})
    claim(store, Benchmark(bench, longer).plan())  # more loops: fine


def test_a_fixed_oracle_continues_the_store_only_when_accepted(tmp_path):
    """Loop 0 with a broken oracle (every call rejected), then the fixed one:
    refused with a hint, accepted with --accept-oracle-change, the change
    recorded in the store."""
    import yaml
    from typer.testing import CliRunner

    from hyperal.cli.main import app
    from hyperal.runs import Store
    from tests.campaign.conftest import tiny

    data = tiny(
        tmp_path,
        oracle={"name": "hyperal.testing:FlakyEMT", "kwargs": {"every": 1}},
        initial={"structures": 2, "relax_steps": 2},
        loops=1,
    )
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    assert CliRunner().invoke(app, ["run", str(config)]).exit_code == 2
    data["oracle"] = {"name": "emt"}
    config.write_text(yaml.safe_dump(data))
    refused = CliRunner().invoke(app, ["run", str(config)])
    text = " ".join(refused.output.split())
    assert refused.exit_code == 2 and "(oracle.kwargs.every, oracle.name)" in text
    assert "--accept-oracle-change" in text
    result = CliRunner().invoke(app, ["run", str(config), "--accept-oracle-change"])
    assert result.exit_code == 0, result.output
    store = Store(data["store"])
    (change,) = store.setting("oracle_changes:main")
    assert change["from"]["name"] == "hyperal.testing:FlakyEMT"
    assert change["to"]["name"] == "emt"
    # loop 0 stopped after the training start's call (the test start's
    # relaxation runs behind the fit, which never came)
    assert change["ok_labels_before"] == 0 and change["failed_labels_before"] == 1
    # the old oracle's failed relaxations are kept, set aside, and redone
    assert change["initial_rows_set_aside"] == 1
    aside = store.rows(Where(has="superseded"))
    assert len(aside) == 1 and all(r.oracle_status == "failed" for r in aside)
    assert all(r.name.endswith("~oracle1") for r in aside)
    assert store.count(Where(status=OracleStatus.OK, stage=Stage.INITIAL)) > 0
    assert len(store.metrics()) == 2  # loops 0 and 1 ran
    # a change of the system is still refused, flag or not
    data["system"]["elements"] = ["Cu", "Ni", "Pd", "Ag"]
    config.write_text(yaml.safe_dump(data))
    again = CliRunner().invoke(app, ["run", str(config), "--accept-oracle-change"])
    assert again.exit_code == 2 and "system.elements" in again.output


def test_ctrl_c_says_what_was_kept_and_how_to_resume(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import yaml

    from tests.campaign.conftest import tiny

    data = tiny(tmp_path, loops=6)
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "hyperal.cli.main", "run", str(config)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job (`cmd &`) inherits SIGINT ignored, and
        # Python then never installs its handler: restore the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    db = Path(data["store"])
    while not (db.exists() and db.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    text = " ".join(err.split())
    assert "error: interrupted:" in text and f"kept in {db}" in text
    assert f"`hyperal run {config}` resumes where it stopped" in text


def test_a_store_killed_inside_a_transaction_opens_again(tmp_path):
    """SIGKILL while a write transaction has already changed the file leaves
    a hot journal; the next run rolls it back and finds the store as it was
    before that transaction (the soak benchmark met this)."""
    import subprocess
    import sys

    from hyperal.runs import Row, Stage, Store
    from tests.helpers import rattled_cuni

    path = tmp_path / "campaign.db"
    store = Store(path)
    store.add(
        [(rattled_cuni(seed=k), Row(f"s{k}", "main", Stage.START, 0)) for k in range(3)]
    )
    code = (
        "import os, sqlite3\n"
        f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "db.execute('PRAGMA cache_size=1')\n"
        "db.execute('BEGIN')\n"
        "db.execute('CREATE TABLE filler (x BLOB)')\n"
        "for _ in range(200):\n"
        "    db.execute('INSERT INTO filler VALUES (randomblob(4096))')\n"
        "db.execute('UPDATE systems SET key_value_pairs = \"{}\"')\n"
        "os.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    assert (tmp_path / "campaign.db-journal").stat().st_size > 0
    reopened = Store(path)
    assert [row.name for row in reopened.rows()] == ["s0", "s1", "s2"]
