"""The soak benchmark's quick run: a campaign on the process executor with a
flaky oracle, its coordinator SIGKILLed three times and a pool worker once,
ends with the uninterrupted run's training set, nothing lost or paid twice."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_soak_loses_and_duplicates_nothing(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--quick"]
        + ["--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    last = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    found = re.fullmatch(
        r"calls=(\d+) kills=(\d+) lost=(\d+) duplicated=(\d+) "
        r"same_training_set=(yes|no)",
        last,
    )
    assert found, last
    calls, kills, lost, duplicated, same = found.groups()
    assert int(kills) >= 3 and int(calls) > 0
    assert (lost, duplicated, same) == ("0", "0", "yes")
    assert "1 worker kill(s)" in done.stdout
    # the counts come from the oracle's own log of the killed run
    log = (tmp_path / "killed" / "oracle.log").read_text().split("\n")
    assert sum(" called" in line for line in log) == int(calls)
