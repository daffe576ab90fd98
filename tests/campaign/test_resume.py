"""Kill a running campaign (SIGKILL) at several points; the resumed store must
equal an uninterrupted run's: no lost and no duplicated labels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hyperal.campaign import Campaign, Store, parse_config
from tests.campaign.conftest import tiny

ROOT = Path(__file__).resolve().parents[2]


def _counting(path: Path) -> dict:
    return tiny(
        path,
        oracle={
            "name": "tests.campaign.calculators:CountingEMT",
            "kwargs": {"log": str(path / "calls.log")},
        },
    )


def _labels(store: Store) -> dict[str, float]:
    return {row.name: row.energy for row in store.rows(oracle_status="ok")}


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
    rng = np.random.default_rng(1)
    progress_at_kill = []
    for _ in range(15):
        process = subprocess.Popen(
            [sys.executable, "-m", "hyperal.cli.main", "run", str(config)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _, stderr = process.communicate(timeout=rng.uniform(2.0, 3.5))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.communicate()
            db = work / "campaign.db"
            progress_at_kill.append(Store(db).count() if db.exists() else 0)
            continue
        assert process.returncode == 0, stderr.decode()[-2000:]
        break
    else:
        pytest.fail("the campaign never finished")

    kills = len(progress_at_kill)
    print("rows at each kill:", progress_at_kill)
    assert kills >= 3, "not killed at several points: lengthen the campaign"
    assert len(set(progress_at_kill)) >= 3, progress_at_kill

    resumed = Store(work / "campaign.db")
    names = [row.name for row in resumed.rows()]
    assert len(names) == len(set(names))  # no structure written twice
    assert resumed.count(oracle_status="pending") == 0
    expected = _labels(reference)
    got = _labels(resumed)
    assert got.keys() == expected.keys()  # nothing lost, nothing extra
    for name, energy in expected.items():
        assert got[name] == pytest.approx(energy, abs=1e-9), name
    assert [m["loop"] for m in resumed.metrics()] == [0, 1, 2]

    # oracle calls: those in flight when killed may be repeated, nothing else
    # (an initial relaxation is one task of up to relax_steps calls)
    calls = len((work / "calls.log").read_text().split())
    reference_calls = len((reference_dir / "calls.log").read_text().split())
    assert reference_calls <= calls <= reference_calls + kills * 6
