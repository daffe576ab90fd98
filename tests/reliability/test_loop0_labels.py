"""Loop 0's oracle relaxations label every step like every other label: with
the time limit, the retries and the seconds spent."""

from __future__ import annotations

from pathlib import Path

from ase.calculators.emt import EMT

from hyperal.campaign import parse_config
from hyperal.campaign.stages import label_initial
from hyperal.runs import InProcessExecutor, StageContext, Store
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus, Stage
from hyperal.testing import _fingerprint
from tests.campaign.conftest import tiny


class OnceFlakyEMT(EMT):
    """EMT whose first call on each structure fails (a transient error, such
    as a node that went away); later calls succeed. Remembers in ``log``."""

    def __init__(self, log: str, **kwargs):
        super().__init__(**kwargs)
        self.log = Path(log)

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        key = str(_fingerprint(atoms))
        seen = self.log.read_text().split() if self.log.exists() else []
        if key not in seen:
            with self.log.open("a") as handle:
                handle.write(key + "\n")
            raise RuntimeError("node lost (transient)")
        super().calculate(atoms, properties, system_changes)


def _context(tmp_path, oracle):
    config = parse_config(
        tiny(tmp_path, initial={"structures": 2, "relax_steps": 3}, oracle=oracle)
    )
    return StageContext(
        config,
        Store(config.store),
        InProcessExecutor(),
        config.oracle.build(config.store),
    )


def test_loop_0_retries_transient_failures_and_times_every_step(tmp_path):
    log = str(tmp_path / "seen.log")
    oracle = {
        "name": "tests.reliability.test_loop0_labels:OnceFlakyEMT",
        "kwargs": {"log": log},
        "retries": 1,
    }
    ctx = _context(tmp_path, oracle)
    label_initial(ctx)
    rows = ctx.store.rows(Where(stage=Stage.INITIAL))
    assert rows and all(row.oracle_status == "ok" for row in rows)
    assert all(row.oracle_seconds > 0 for row in rows)
    assert len(rows) == 2 * 4  # 3 steps + the start of each trajectory


def test_loop_0_without_retries_records_the_failure(tmp_path):
    log = str(tmp_path / "seen.log")
    oracle = {
        "name": "tests.reliability.test_loop0_labels:OnceFlakyEMT",
        "kwargs": {"log": log},
    }
    ctx = _context(tmp_path, oracle)
    label_initial(ctx)
    failed = ctx.store.rows(Where(stage=Stage.INITIAL, status=OracleStatus.FAILED))
    assert len(failed) == 2  # each trajectory's first step failed
    assert all(r.oracle_reason == "RuntimeError: node lost (transient)" for r in failed)


def test_loop_0_honours_the_time_limit(tmp_path):
    oracle = {
        "name": "hyperal.testing:SleepyEMT",
        "kwargs": {"seconds": 2.0},
        "timeout_s": 0.2,
    }
    ctx = _context(tmp_path, oracle)
    label_initial(ctx)
    failed = ctx.store.rows(Where(stage=Stage.INITIAL, status=OracleStatus.FAILED))
    assert len(failed) == 2
    assert all(r.oracle_reason == "timed out after 0.2 s" for r in failed)
