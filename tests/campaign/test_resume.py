"""Kill a running campaign (SIGKILL) at several points; the resumed store must
equal an uninterrupted run's: no lost and no duplicated labels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hyperal.campaign import Campaign, parse_config
from hyperal.runs import Store
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus
from tests.campaign.conftest import tiny

ROOT = Path(__file__).resolve().parents[2]


def _counting(path: Path) -> dict:
    return tiny(
        path,
        oracle={
            "name": "hyperal.testing:CountingEMT",
            "kwargs": {"log": str(path / "calls.log")},
        },
    )


def _labels(store: Store) -> dict[str, float]:
    return {row.name: row.energy for row in store.rows(Where(status=OracleStatus.OK))}


@pytest.mark.slow
def test_sigkill_and_resume_loses_and_duplicates_nothing(tmp_path):
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    Campaign(parse_config(_counting(reference_dir))).run()
    reference = Store(reference_dir / "campaign.db")

    work = tmp_path / "killed"
    work.mkdir()
    config = work / "campaign.yaml"
    config.write_text(yaml.safe_dump(_counting(work)))
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    log = work / "calls.log"
    total = len((reference_dir / "calls.log").read_text().split())
    # kill when the oracle-call log reaches these counts: inside the initial
    # relaxations, after them, and inside the labelling of loops 1 and 2
    targets = [5, 20, 38, total - 12, total - 9, total - 4, total - 1]
    progress_at_kill = []
    deadline = time.monotonic() + 300
    finished = False
    errors = work / "stderr.txt"
    while not finished:
        process = subprocess.Popen(
            [sys.executable, "-m", "hyperal.cli.main", "run", str(config)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors.open("w"),  # a file: a full pipe would block the child
        )
        while True:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(
                    f"never finished; kills at {progress_at_kill}; "
                    f"stderr: {errors.read_text()[-2000:]}"
                )
            if process.poll() is not None:
                assert process.returncode == 0, errors.read_text()[-2000:]
                finished = True
                break
            calls = len(log.read_text().split()) if log.exists() else 0
            if targets and calls >= targets[0]:
                process.send_signal(signal.SIGKILL)
                process.wait()
                progress_at_kill.append(calls)
                while targets and calls >= targets[0]:
                    targets.pop(0)
                break
            time.sleep(0.02)

    kills = len(progress_at_kill)
    print("oracle calls at each kill:", progress_at_kill, "of", total)
    assert kills >= 4, progress_at_kill

    resumed = Store(work / "campaign.db")
    names = [row.name for row in resumed.rows()]
    assert len(names) == len(set(names))  # no structure written twice
    assert resumed.count(Where(status=OracleStatus.PENDING)) == 0
    expected = _labels(reference)
    got = _labels(resumed)
    stages = {row.name: row.stage for row in reference.rows()}
    assert got.keys() == expected.keys()  # nothing lost, nothing extra
    for name, energy in expected.items():
        # initial and start structures are generated exactly; a selected frame
        # comes from a float32 MD run whose last bits may differ by process
        tolerance = 1e-4 if stages[name] == "selected" else 1e-9
        assert got[name] == pytest.approx(energy, abs=tolerance), name
    resumed_metrics, reference_metrics = resumed.metrics(), reference.metrics()
    assert [m.loop for m in resumed_metrics] == [0, 1, 2]
    for a, b in zip(resumed_metrics, reference_metrics, strict=True):
        assert a.n_train == b.n_train and a.oracle_calls >= b.oracle_calls
        for split in ("gentle", "difficult"):
            if b.errors(split) is not None:
                assert a.errors(split).energy_rmse_meV_atom == pytest.approx(
                    b.errors(split).energy_rmse_meV_atom, rel=1e-2
                )

    # oracle calls: those in flight when killed may be repeated, nothing else
    # (an initial relaxation is one task of up to relax_steps calls)
    calls = len((work / "calls.log").read_text().split())
    reference_calls = len((reference_dir / "calls.log").read_text().split())
    assert reference_calls <= calls <= reference_calls + kills * 6


def test_a_checkpoint_from_another_campaign_is_refused_before_it_is_used(tmp_path):
    """A loop's checkpoint replaced by another campaign's (other elements):
    the resumed run refuses it, naming it, before any evolution or oracle
    call on it — not a loop later, at the next fit."""
    import shutil

    from hyperal.runs.context import RunError

    mine = tiny(tmp_path / "mine", loops=1)
    (tmp_path / "mine").mkdir()
    Campaign(parse_config(mine)).run()
    phases = [{"prototype": "fcc", "species": ["Cu", "Ni"], "repeat": [2, 2, 2]}]
    other = tiny(
        tmp_path / "other",
        loops=1,
        system={"elements": ["Cu", "Ni"], "metal_phases": phases},
        initial={"structures": 2, "relax_steps": 2},
        counts={"derived_metal": 1, "random": 0},
    )
    (tmp_path / "other").mkdir()
    Campaign(parse_config(other)).run()
    store = Store(mine["store"])
    foreign = store.checkpoint_path(1)
    shutil.rmtree(foreign)
    shutil.copytree(Store(other["store"]).checkpoint_path(0), foreign)
    rows = len(store.rows())
    with pytest.raises(RunError, match="fitted for the elements Cu, Ni") as error:
        Campaign(parse_config({**mine, "loops": 2})).run()
    assert str(foreign) in str(error.value)
    assert len(Store(mine["store"]).rows()) == rows  # nothing evolved, nothing paid
