"""A timed-out oracle call's external program is terminated, not left
running; a program of a call that finishes in time is untouched."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from ase.calculators.emt import EMT

from hyperal.oracle import Oracle
from tests.helpers import rattled_cuni

SLEEPER = "import time; time.sleep({seconds})"


class ProgramEMT(EMT):
    """EMT that first runs an external program for ``seconds`` (as a
    file-based DFT calculator does) and writes the program's pid to
    ``pid_file``; the program's own child sleeps too (an ``mpirun`` rank)."""

    def __init__(self, pid_file: str, seconds: float = 30.0, **kwargs):
        super().__init__(**kwargs)
        self.pid_file = pid_file
        self.seconds = seconds

    def calculate(self, *args, **kwargs):
        child = SLEEPER.format(seconds=self.seconds)
        code = (
            "import subprocess, sys; "
            f"p = subprocess.Popen([sys.executable, '-c', {child!r}]); "
            "print(p.pid, flush=True); p.wait()"
        )
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        grandchild = process.stdout.readline().decode().strip()
        Path(self.pid_file).write_text(f"{process.pid} {grandchild}")
        process.wait()
        super().calculate(*args, **kwargs)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _label(tmp_path, seconds, timeout_s, in_thread=False):
    oracle = Oracle(
        "tests.reliability.test_oracle_processes:ProgramEMT",
        kwargs={"pid_file": str(tmp_path / "pids"), "seconds": seconds},
        timeout_s=timeout_s,
    )
    if not in_thread:
        return oracle.label(rattled_cuni(seed=1))
    box = {}
    thread = threading.Thread(
        target=lambda: box.update(label=oracle.label(rattled_cuni(seed=1)))
    )
    thread.start()
    thread.join()
    return box["label"]


def test_a_timed_out_program_and_its_children_are_terminated(tmp_path):
    for in_thread in (False, True):  # SIGALRM in the main thread; a waiter elsewhere
        start = time.perf_counter()
        label = _label(tmp_path, seconds=60, timeout_s=1.0, in_thread=in_thread)
        assert label.status == "failed" and label.reason == "timed out after 1 s"
        pids = [int(x) for x in (tmp_path / "pids").read_text().split()]
        assert len(pids) == 2
        deadline = time.time() + 10
        while any(_alive(pid) for pid in pids) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in pids), in_thread
        assert time.perf_counter() - start < 20


def test_a_call_in_time_keeps_its_label(tmp_path):
    label = _label(tmp_path, seconds=0.1, timeout_s=30.0)
    assert label.ok and label.forces.shape == (32, 3)
