"""The oracle: any ASE calculator as the reference labeller (docs/method.md §8).

An :class:`Oracle` names its calculator — a registered name from
:data:`ORACLES` (``emt``, ``chgnet``, ``sevenn``, ``gpaw``) or an import path
(``ase.calculators.emt.EMT``, ``my_package.dft:make_vasp``) — plus keyword
arguments, and builds its calculator for each call (a universal potential's
weights are kept per process), so it pickles to any worker. :meth:`Oracle.label`
never raises for a failed calculation: an exception, a NaN or inf in the
results, a calculator that reports non-convergence, or a time-out comes back
as a :class:`Label` with ``status="failed"`` and the reason, after the
configured retries. Failed labels are recorded and never become data.

Each call runs in a folder of its own when the oracle has a ``workdir``
(a campaign gives it one beside its store): a file-based DFT code (VASP,
Quantum ESPRESSO, CP2K, FHI-aims ...) writes its input and output there, so
calls running side by side on a process pool or Dask never share files. The
folder of a failed call is kept, with the reason in ``hyperal-failure.txt``
(the label's ``directory``; a campaign stores it as the row's
``oracle_workdir``); a good call's folder is removed (or kept:
``keep_workdirs``).

Convergence is read the way each calculator reports it (:func:`unconverged`):
``results["converged"]``, a ``converged`` attribute (ASE's VASP calculator,
from OUTCAR), Quantum ESPRESSO's output text; GPAW and FHI-aims raise on an
unconverged SCF themselves.

A timed-out call that started programs (a file-based DFT code that the
calculator runs with :mod:`subprocess`) has them terminated: each program the
call's own thread started, with its children (``mpirun``'s ranks), gets
SIGTERM, then SIGKILL after :data:`KILL_GRACE_S`. Other calls running at the
same time in the same process keep theirs.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import math
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT

from hyperal import universal
from hyperal.convergence import OUTPUT_CHECKS, nonfinite, unconverged
from hyperal.registry import Registry

__all__ = [
    "FAILURE_FILE",
    "KILL_GRACE_S",
    "ORACLES",
    "OUTPUT_CHECKS",
    "Label",
    "Oracle",
    "OracleTimeout",
    "label_structure",
    "resolve",
    "unconverged",
]

log = logging.getLogger(__name__)

KILL_GRACE_S = 5.0
"""Seconds a timed-out call's programs get between SIGTERM and SIGKILL."""

# the pids of the programs started by the oracle call running in this thread
_programs = threading.local()
_recording = threading.Lock()

ORACLES: Registry[Callable[..., Calculator]] = Registry(
    "oracle",
    {
        "emt": EMT,
        "chgnet": universal.chgnet,
        "sevenn": universal.sevenn,
        "gpaw": universal.gpaw,
    },
)
"""Registered oracle names -> calculator factories (keyword arguments in):
EMT, the universal potentials CHGNet and SevenNet (stand-ins for DFT,
optional extras) and GPAW (:mod:`hyperal.universal`); anything else goes by
import path. ``ORACLES.register(name, factory)`` adds a short name."""


class OracleTimeout(Exception):
    """Raised inside a call that exceeded the oracle's time limit."""


@dataclass(eq=False)
class Label:
    """The oracle's answer for one structure.

    Attributes
    ----------
    status : {"ok", "failed"}
    energy : float or None
        Potential energy (eV).
    forces : array (N, 3) or None
        Forces (eV/Å).
    stress : array (6,) or None
        Voigt stress (eV/Å³) when the cell is periodic and the calculator
        offers it.
    reason : str
        Empty when ok, else why it failed (the last attempt's reason).
    oracle : str
        The oracle's name.
    seconds : float
        Wall time of all attempts.
    attempts : int
    directory : str
        The kept working folder of the last attempt ('' when none was kept).
    """

    status: str
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    reason: str = ""
    oracle: str = ""
    seconds: float = 0.0
    attempts: int = 1
    directory: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def resolve(name: str) -> Callable[..., Calculator]:
    """The calculator factory ``name`` names: a key of :data:`ORACLES`, or an
    import path (``package.module:attribute`` or ``package.module.Class``);
    a ValueError saying which it is neither."""
    if name in ORACLES:
        return ORACLES[name]
    module_name, sep, attribute = name.partition(":")
    if not sep:
        module_name, _, attribute = name.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(
            f"oracle: {name!r} is neither a registered oracle ({', '.join(ORACLES)}) "
            "nor an import path such as 'ase.calculators.emt.EMT'"
        )
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"oracle: cannot import {name!r}: {exc}") from exc
    if not callable(factory):
        raise ValueError(f"oracle: {name!r} is not callable")
    return factory


@dataclass(frozen=True)
class Oracle:
    """A picklable recipe for the reference calculator.

    Parameters
    ----------
    name : str
        A key of :data:`ORACLES` or an import path of a Calculator class or
        factory function.
    kwargs : mapping
        Keyword arguments of the factory.
    timeout_s : float or None
        Per-attempt wall-time limit (s). Enforced with SIGALRM in a process's
        main thread (the call is interrupted); elsewhere the caller stops
        waiting and the abandoned call finishes in the background.
    retries : int
        Extra attempts after a failure.
    stress : bool
        Also ask for the stress of periodic cells.
    workdir : str or None
        The folder under which every attempt gets a new folder of its own,
        given to the calculator as its ``directory``; None: the calculator's
        own (every call shares it — only for in-memory calculators).
    keep_workdirs : {"failed", "all", "none"}
        Which attempts' folders stay: failed ones (default), all, none.
    """

    name: str = "emt"
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    retries: int = 0
    stress: bool = False
    workdir: str | None = None
    keep_workdirs: str = "failed"

    def __post_init__(self):
        resolve(self.name)  # fail early on an unknown oracle
        if self.keep_workdirs not in KEEP:
            raise ValueError(
                f"keep_workdirs must be one of {', '.join(KEEP)}, "
                f"got {self.keep_workdirs!r}"
            )
        if self.workdir is not None and directory_given(self.kwargs):
            raise ValueError(directory_given(self.kwargs))
        if self.timeout_s is not None and not (
            math.isfinite(self.timeout_s) and self.timeout_s > 0
        ):
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if int(self.retries) != self.retries or self.retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {self.retries}")

    def calculator(self, directory: str | Path | None = None) -> Calculator:
        """The factory's calculator: a fresh one per call, except for the
        universal potentials, whose calculator (and weights) each thread
        keeps (:mod:`hyperal.universal`). With ``directory``, the calculator
        works there: passed to a factory that takes a ``directory`` argument,
        and set as the calculator's ``directory`` attribute."""
        factory = resolve(self.name)
        kwargs = dict(self.kwargs)
        if directory is not None and _takes_directory(factory):
            kwargs["directory"] = str(directory)
        calc = factory(**kwargs)
        if directory is not None and hasattr(calc, "directory"):
            # GenericFileIOCalculator keeps a Path, the others a str
            calc.directory = (
                Path(directory) if isinstance(calc.directory, Path) else str(directory)
            )
        return calc

    def label(self, atoms: Atoms) -> Label:
        """Label a copy of ``atoms``; never raises for a failed calculation."""
        start = time.perf_counter()
        reason, kept = "", ""
        for attempt in range(1, int(self.retries) + 2):
            directory = None
            try:
                directory = self._new_workdir(atoms.get_chemical_formula(mode="metal"))
                energy, forces, stress = self._call(atoms, directory)
            except OracleTimeout:
                reason = f"timed out after {self.timeout_s:g} s"
            except Exception as exc:  # any calculator failure is recorded, not raised
                reason = f"{type(exc).__name__}: {exc}".strip()
            else:
                reason = nonfinite(energy, forces, stress)
                if not reason:
                    kept = self._close_workdir(directory, "")
                    return Label(
                        "ok",
                        energy,
                        forces,
                        stress,
                        oracle=self.name,
                        seconds=time.perf_counter() - start,
                        attempts=attempt,
                        directory=kept,
                    )
            kept = self._close_workdir(directory, reason or "failed")
        return Label(
            "failed",
            reason=reason or "failed",
            oracle=self.name,
            seconds=time.perf_counter() - start,
            attempts=int(self.retries) + 1,
            directory=kept,
        )

    @contextmanager
    def driver(self, name: str) -> Iterator[Callable[[], Calculator]]:
        """A calculator factory for dynamics the oracle drives outside a
        label (a test set's MD stratum): each calculator works in a new
        folder of its own under ``workdir`` (``<time>-<name>-…``), never in
        the current directory nor in a folder another call shares. When the
        block ends the folders follow ``keep_workdirs`` as a label's do: an
        error kept (with its reason), a good run's removed unless ``all``."""
        folders: list[Path] = []

        def make() -> Calculator:
            directory = self._new_workdir(name)
            if directory is not None:
                folders.append(directory)
            return self.calculator(directory)

        try:
            yield make
        except BaseException as exc:
            for folder in folders:
                self._close_workdir(folder, f"{type(exc).__name__}: {exc}")
            raise
        for folder in folders:
            self._close_workdir(folder, "")

    def _new_workdir(self, name: str) -> Path | None:
        """A new, empty folder under ``workdir`` for one attempt (unique
        across threads and processes: :func:`tempfile.mkdtemp`), named with
        the time and ``name`` (a label's chemical formula)."""
        if self.workdir is None:
            return None
        root = Path(self.workdir)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        prefix = f"{stamp}-{name[:40]}-"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=root))

    def _close_workdir(self, directory: Path | None, reason: str) -> str:
        """Keep or remove an attempt's folder; the kept folder's path ('' if
        removed). A failed attempt's folder gets its reason in a file."""
        if directory is None:
            return ""
        keep = self.keep_workdirs == "all" or (
            bool(reason) and self.keep_workdirs == "failed"
        )
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
            return ""
        if reason:
            try:
                (directory / FAILURE_FILE).write_text(reason + "\n")
            except OSError:  # the folder itself is the record; never raise here
                pass
        return str(directory)

    def _call(self, atoms: Atoms, directory: Path | None = None):
        if self.timeout_s is None:
            return self._compute(atoms, directory)
        started: list[int] = []
        try:
            return self._call_limited(atoms, directory, started)
        except OracleTimeout:
            _terminate(started)
            raise

    def _call_limited(self, atoms: Atoms, directory: Path | None, started: list[int]):
        _record_programs()
        if threading.current_thread() is threading.main_thread():

            def alarm(signum, frame):
                raise OracleTimeout

            previous = signal.signal(signal.SIGALRM, alarm)
            signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
            _programs.started = started
            try:
                return self._compute(atoms, directory)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                _programs.started = None
        box: dict[str, Any] = {}

        def target():
            _programs.started = started
            try:
                box["value"] = self._compute(atoms, directory)
            except Exception as exc:  # handed to the waiting thread
                box["error"] = exc

        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if worker.is_alive():
            raise OracleTimeout
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _compute(self, atoms: Atoms, directory: Path | None = None):
        probe = atoms.copy()
        probe.calc = self.calculator(directory)
        return self.read(probe)

    def read(self, atoms: Atoms):
        """(energy, forces, stress or None) of ``atoms`` from the oracle
        calculator attached to it; raises if the calculator reports no
        convergence or gives a result of the wrong shape (such a label is
        recorded as failed, never stored as good). Stress only when asked for
        and the cell is periodic (Voigt order; a 3×3 stress is converted)."""
        energy = np.asarray(atoms.get_potential_energy(), dtype=float)
        if energy.size != 1:
            raise ValueError(f"energy of shape {energy.shape}, not one number")
        forces = np.array(atoms.get_forces(), dtype=float)
        if forces.shape != (len(atoms), 3):
            raise ValueError(
                f"forces of shape {forces.shape} for {len(atoms)} atoms "
                f"(expected ({len(atoms)}, 3))"
            )
        why = unconverged(atoms.calc)
        if why:
            raise RuntimeError(why)
        stress = None
        if self.stress and np.all(atoms.pbc):
            stress = np.array(atoms.get_stress(), dtype=float)
            if stress.shape == (3, 3):
                stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            if stress.shape != (6,):
                raise ValueError(f"stress of shape {stress.shape}, not (6,) or (3, 3)")
        return float(energy.reshape(())), forces, stress


#: What to keep of each attempt's working folder.
KEEP = ("failed", "all", "none")
FAILURE_FILE = "hyperal-failure.txt"
"""The file a failed attempt's folder holds its reason in."""


def directory_given(kwargs: Mapping[str, Any]) -> str:
    """Why the calculator's keyword arguments may not name its ``directory``
    ('' when they do not): each call gets a folder of its own."""
    if "directory" not in kwargs:
        return ""
    return (
        "kwargs.directory: every oracle call runs in a folder of its own "
        "under oracle.workdir; set that instead"
    )


def _takes_directory(factory: Callable) -> bool:
    """Whether ``factory`` names a ``directory`` parameter (a class: its
    ``__init__``)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return "directory" in parameters


def _record_programs() -> None:
    """Have :class:`subprocess.Popen` note each program's pid in the
    starting thread's list while an oracle call with a time limit runs there
    (installed once; other threads and other code are unaffected)."""

    with _recording:
        if getattr(subprocess.Popen, "_hyperal_records", False):
            return
        original = subprocess.Popen.__init__

        def init(self, *args, **kwargs):
            original(self, *args, **kwargs)
            started = getattr(_programs, "started", None)
            if started is not None:
                started.append(self.pid)

        subprocess.Popen.__init__ = init
        subprocess.Popen._hyperal_records = True


def _terminate(pids: list[int]) -> None:
    """SIGTERM the programs ``pids`` and their children, then SIGKILL what
    is left after :data:`KILL_GRACE_S`."""

    processes = []
    for pid in pids:
        try:
            parent = psutil.Process(pid)
            processes += [parent, *parent.children(recursive=True)]
        except psutil.Error:  # already gone
            pass
    for process in processes:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(processes, timeout=KILL_GRACE_S)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    if processes:
        log.info("terminated %d program(s) of a timed-out oracle call", len(processes))


def label_structure(oracle: Oracle, atoms: Atoms) -> Label:
    """Module-level ``oracle.label(atoms)`` for executors."""
    return oracle.label(atoms)
