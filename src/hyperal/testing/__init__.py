"""Helpers for tests, demos and benchmarks: the backend conformance check
(:func:`check_backend`, with its EMT data :func:`emt_cells`), a
central-difference gradient and calculators for exercising the campaign
machinery.

Importable by path from a campaign file (``oracle: {name: hyperal.testing:FlakyEMT}``),
so subprocesses and workers find them. None of them is a physical model beyond EMT.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT
from ase.db import connect
from ase.io import read, write

from hyperal.runs.store import structure_key
from hyperal.testing.backends import CHECKS, check_backend
from hyperal.testing.executors import EXECUTOR_CHECKS, check_executor
from hyperal.testing.numerical import central_difference
from hyperal.testing.subject import BackendUnderTest, backend_under_test, emt_cells


def _fingerprint(atoms) -> int:
    return int(hashlib.sha1(atoms.positions.round(6).tobytes()).hexdigest()[:8], 16)


class FlakyEMT(EMT):
    """EMT that fails, deterministically by structure, on about one call in
    ``every``: raises, returns NaN forces, or reports no convergence."""

    def __init__(self, every: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.every = every

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        kind = _fingerprint(self.atoms) % (3 * self.every)
        if kind == 0:
            raise RuntimeError("SCF failed (flaky test oracle)")
        if kind == 1:
            self.results["forces"] = self.results["forces"] * math.nan
        if kind == 2:
            self.results["converged"] = False


class CountingEMT(EMT):
    """EMT that appends one line per calculation to ``log`` (flushed), for
    counting oracle calls across killed processes."""

    def __init__(self, log: str, **kwargs):
        super().__init__(**kwargs)
        self.log = log

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        with open(self.log, "a") as handle:
            handle.write(f"{_fingerprint(self.atoms)}\n")
            handle.flush()
            os.fsync(handle.fileno())


class CallLogEMT(EMT):
    """EMT that sleeps ``seconds`` per calculation and keeps a record of each
    call in the folder ``log``: a file ``<call>.start`` when it begins (the
    structure's fingerprint and the Slurm job it runs in) and ``<call>.end``
    when its result exists — so a test can tell a call cut short (a worker
    job cancelled mid-label) from one that finished, across processes and
    jobs (:func:`call_log`)."""

    def __init__(self, log: str, seconds: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.log = log
        self.seconds = seconds

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        call = Path(self.log) / uuid.uuid4().hex
        record = {
            "structure": _fingerprint(atoms if atoms is not None else self.atoms),
            "job": os.environ.get("SLURM_JOB_ID"),
        }
        call.with_suffix(".start").write_text(json.dumps(record))
        time.sleep(self.seconds)
        super().calculate(atoms, properties, system_changes)
        call.with_suffix(".end").write_text(json.dumps(record))


def call_log(log: str) -> list[dict]:
    """The calls a :class:`CallLogEMT` recorded in the folder ``log``: each
    ``{"structure", "job", "finished", "started"}`` (``started``: when the
    call began, seconds since the epoch), in the order they began."""

    calls = []
    for start in Path(log).glob("*.start"):
        record = json.loads(start.read_text())
        record["finished"] = start.with_suffix(".end").exists()
        record["started"] = start.stat().st_mtime
        calls.append(record)
    return sorted(calls, key=lambda c: c["started"])


class SleepyEMT(EMT):
    """EMT that sleeps ``seconds`` per calculation (time-out tests, benchmark)."""

    def __init__(self, seconds: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        time.sleep(self.seconds)
        super().calculate(atoms, properties, system_changes)


class FileEMT(EMT):
    """A file-based calculator in the way of ASE's VASP one: each calculation
    writes the structure to ``input.xyz`` in its ``directory``, waits
    ``pause`` seconds (a DFT code running), reads the structure back from
    that file, computes EMT on it, writes energy and forces to ``output.txt``
    and reads its results from there; ``converged`` is an attribute, False
    (with good-looking numbers) for about one structure in
    ``unconverged_every`` (0: never), as VASP's OUTCAR reports an SCF that
    stopped at NELM. Calls sharing a folder read each other's files."""

    def __init__(self, pause: float = 0.0, unconverged_every: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.pause = pause
        self.unconverged_every = unconverged_every
        self.converged = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        Calculator.calculate(self, atoms, properties, system_changes)
        folder = Path(self.directory)
        folder.mkdir(parents=True, exist_ok=True)
        write(folder / "input.xyz", self.atoms, format="extxyz")
        time.sleep(self.pause)
        computed = read(folder / "input.xyz", format="extxyz")
        computed.calc = EMT()
        energy = computed.get_potential_energy()
        forces = computed.get_forces()
        np.savetxt(folder / "output.txt", np.vstack([[energy] * 3, forces]))
        table = np.loadtxt(folder / "output.txt", ndmin=2)
        self.results = {
            "energy": float(table[0, 0]),
            "free_energy": float(table[0, 0]),
            "forces": table[1:],
        }
        every = self.unconverged_every
        self.converged = not (every and _fingerprint(self.atoms) % every == 0)


class SoakEMT(EMT):
    """EMT that fails like a cluster DFT code, deterministically by structure
    (positions rounded to 1e-3 Å, so a resumed run meets the same failures):
    about ``fail_share`` of calls raise, ``nan_share`` return NaN forces,
    ``hang_share`` sleep ``hang_s`` seconds (past the oracle's time limit).

    Every call appends to ``log`` one line ``<key> <event>``: ``called``
    when it starts — ``called-again`` instead when the store ``store``
    already holds a label (ok or failed) for this structure (an oracle call
    paid twice) — and ``returned`` when it hands back a result (NaN ones
    included). ``key`` is :func:`hyperal.runs.store.structure_key`.
    The soak benchmark counts lost and duplicated labels from this log."""

    def __init__(
        self,
        log: str,
        store: str,
        fail_share: float = 0.10,
        nan_share: float = 0.05,
        hang_share: float = 0.02,
        hang_s: float = 3.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.log, self.store = log, store
        self.shares = (fail_share, nan_share, hang_share)
        self.hang_s = hang_s

    def _write(self, key: str, event: str) -> None:
        with open(self.log, "a") as handle:
            handle.write(f"{key} {event}\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _stored(self, key: str) -> bool:
        if not os.path.exists(self.store):
            return False
        db = connect(self.store, use_lock_file=False)
        return any(
            True
            for status in ("ok", "failed")
            for _ in db.select(structure_key=key, oracle_status=status, limit=1)
        )

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        key = structure_key(atoms if atoms is not None else self.atoms)
        self._write(key, "called-again" if self._stored(key) else "called")
        coarse = (atoms if atoms is not None else self.atoms).positions.round(3)
        draw = int(hashlib.sha1(coarse.tobytes()).hexdigest()[:8], 16) / 16**8
        fail, nan, hang = self.shares
        if draw < fail:
            raise RuntimeError("SCF crashed (soak test oracle)")
        if draw < fail + hang:
            time.sleep(self.hang_s)
        super().calculate(atoms, properties, system_changes)
        if fail + hang <= draw < fail + hang + nan:
            self.results["forces"] = self.results["forces"] * math.nan
        self._write(key, "returned")


__all__ = [
    "CHECKS",
    "EXECUTOR_CHECKS",
    "BackendUnderTest",
    "CallLogEMT",
    "CountingEMT",
    "FileEMT",
    "FlakyEMT",
    "SleepyEMT",
    "SoakEMT",
    "backend_under_test",
    "call_log",
    "central_difference",
    "check_backend",
    "check_executor",
    "emt_cells",
]


def browser() -> str | None:
    """The path of a Chromium or Chrome executable, or None."""

    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def render_in_browser(path, timeout_s: float = 120.0) -> tuple[str, list[str]]:
    """Open the HTML file ``path`` in headless Chromium: the rendered DOM and
    the page's console messages (errors included). Raises RuntimeError when
    no browser is installed (``apt install chromium`` on Debian)."""

    executable = browser()
    if executable is None:
        raise RuntimeError("no chromium or chrome executable on PATH")
    done = subprocess.run(
        [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            Path(path).resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console
