"""Engines: every campaign task goes through a ``concurrent.futures.Executor``
(docs/method.md §9), of a kind registered in :data:`EXECUTORS`: in-process by
default, a local process pool, or Dask distributed
(``dask.distributed.Client.get_executor()`` on a LocalCluster or a scheduler
address); Slurm worker jobs that hyperal submits itself
(:mod:`hyperal.runs.slurm`). A new kind is one :class:`ExecutorType` and one
``EXECUTORS.register`` call; the runner reads no kind names.
:class:`TimedExecutor` keeps when each task ran and where. Tasks are
module-level functions of picklable arguments; nothing outside this module
and :mod:`hyperal.runs.slurm` imports Dask."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from hyperal.registry import Registry
from hyperal.runs.slurm import SLURM_KEYS, slurm_pools, slurm_problem


class InProcessExecutor(Executor):
    """Runs each task at once in the calling process (the default: simplest to
    debug, and the oracle's time limit can interrupt a call)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, like a pool
            future.set_exception(exc)
        return future


def call(fn: Callable, args: tuple | Mapping[str, Any]) -> Any:
    """``fn(**args)`` for a mapping of keywords, else ``fn(*args)``."""
    return fn(**args) if isinstance(args, Mapping) else fn(*args)


@dataclass(frozen=True)
class Span:
    """When one task ran (wall-clock seconds since the epoch) and where."""

    task: str
    start: float
    end: float
    worker: str


def timed(fn: Callable, args: tuple, kwargs: dict) -> tuple[Any, Span]:
    """``fn(*args, **kwargs)`` and the :class:`Span` it ran in (on a worker)."""
    start = time.time()
    result = fn(*args, **kwargs)
    where = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    return result, Span(getattr(fn, "__name__", "task"), start, time.time(), where)


class TimedExecutor(Executor):
    """An executor that keeps, for every task that ran on ``inner`` (a pool of
    workers), when it ran and on which worker (:attr:`spans`): what the
    workers' utilisation is measured from (:func:`utilisation`). Results and
    errors are delivered as ``inner`` delivers them."""

    def __init__(self, inner: Executor):
        self.inner = inner
        self.spans: list[Span] = []
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        outer: Future = Future()
        outer.set_running_or_notify_cancel()
        inner = self.inner.submit(timed, fn, args, kwargs)

        def landed(future: Future) -> None:
            try:
                result, span = future.result()
            except BaseException as exc:
                outer.set_exception(exc)
                return
            with self._lock:
                self.spans.append(span)
            outer.set_result(result)

        inner.add_done_callback(landed)
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)


def busy_seconds(spans: Iterable[Span], start: float, end: float) -> dict[str, float]:
    """Seconds spent in each task (by name) between ``start`` and ``end``,
    each span clipped to the window."""
    busy: dict[str, float] = {}
    for span in spans:
        seconds = min(span.end, end) - max(span.start, start)
        if seconds > 0:
            busy[span.task] = busy.get(span.task, 0.0) + seconds
    return busy


def utilisation(spans: Iterable[Span], workers: int, start: float, end: float) -> float:
    """Busy worker-seconds over available worker-seconds between ``start``
    and ``end`` on ``workers`` workers (each span clipped to the window)."""
    return sum(busy_seconds(spans, start, end).values()) / (workers * (end - start))


def threads_per_worker(workers: int) -> int:
    """Threads each of ``workers`` workers on this machine may use: its
    cores (those this process may run on) shared out, at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // workers)


def limit_threads(threads: int) -> None:
    """Worker start-up: torch (the committee's evaluations and fits) uses
    ``threads`` threads. Left alone, every local worker's torch starts one
    thread per core of the machine, and W workers then run W × cores
    threads on the cores: OpenMP's waiting threads made one contour
    exploration of the demo campaign take 38 s on each of 2 workers on 2
    cores against 0.7 s alone (``benchmarks/worker_threads.py`` measures
    committee evaluations with and without this limit). Dask's workers
    start with ``OMP_NUM_THREADS=1`` unless told otherwise."""
    # lazy: `import hyperal` does not load torch
    import torch

    torch.set_num_threads(threads)


@contextmanager
def all_cores():
    """Torch on every core this process may use while inside, then back to
    the worker's share: for a fit, the loop's serial part — the next loop's
    evolutions wait for its committee, so the cores the other workers would
    use for them are free (on a Slurm job: the job's cores, where Dask's
    workers start with one thread)."""
    # lazy: `import hyperal` does not load torch
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(before, threads_per_worker(1)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a process pool's workers now, mid-task (the tasks' results are
    lost; what they had stored stays)."""
    if hasattr(pool, "terminate_workers"):  # Python >= 3.14
        pool.terminate_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


@contextmanager
def _in_process(workers: int, address: str | None, threads: int | None):
    yield InProcessExecutor()


@contextmanager
def _process_pool(workers: int, address: str | None, threads: int | None):
    # spawn, not fork: a forked child of a process whose torch/OpenMP
    # threads already ran can deadlock (seen here with the BPNN committee)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=None if threads is None else limit_threads,
        initargs=() if threads is None else (threads,),
    )
    try:
        yield pool
    except BaseException:  # SIGTERM, Ctrl-C, an error: leave no worker behind
        _terminate_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _dask(workers: int, address: str | None, threads: int | None):
    try:
        # optional dependency (hyperal[dask] / hyperal[slurm])
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ValueError(
            "executor: kind 'dask' needs dask.distributed "
            "(pip install 'dask[distributed]')"
        ) from exc
    if address:
        client = Client(address)
        cluster = None
    else:
        # each worker process starts with OpenMP (torch's threads)
        # limited to its share of the cores, as limit_threads does
        env = {} if threads is None else {"OMP_NUM_THREADS": str(threads)}
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env=env,
        )
        client = Client(cluster)
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


#: ``open(workers, address, threads)``: a context manager yielding one
#: executor (``threads``: each local worker's torch threads, or None)
Opener = Callable[[int, "str | None", "int | None"], AbstractContextManager[Executor]]


@dataclass(frozen=True)
class ExecutorType:
    """A kind of executor (``executor.kind`` in a run file).

    Attributes
    ----------
    name, summary : str
        The kind's name and what it runs tasks on, one line.
    open : callable, optional
        ``open(workers, address, threads)``: one executor for every task
        (:func:`make_executor`); None for a kind that opens its pools from
        its whole section (``pools``).
    pools : callable, optional
        ``pools(section) -> context manager of (tasks, labels)`` — the
        executors of the model tasks and of the labels, from the executor
        section (default: one executor of ``open`` for both).
    in_process : bool
        Tasks run in this process (not timed; labels stream on a thread).
    keys : tuple of str
        The section's keys this kind reads, beyond ``kind`` and
        ``background_labels`` (a kind that reads ``workers`` has that many
        workers, without an ``address``; else they are counted as seen);
        another key set away from its default is an
        error naming it.
    refuses : dict
        A key this kind does not read -> what to say instead (when the
        right key has another name).
    problem : callable
        Why this machine cannot run the kind (one line), or None — asked
        before a run opens its store.
    label_workers : callable
        ``label_workers(section) -> (calls, cores, words)``: how many oracle
        calls run at once, the cores each holds, and that in words (what
        ``hyperal plan`` prices).
    """

    name: str
    summary: str
    open: Opener | None = None
    pools: Callable[[Any], AbstractContextManager[tuple[Executor, Executor]]] | None = (
        None
    )
    in_process: bool = False
    keys: tuple[str, ...] = ()
    refuses: Mapping[str, str] = field(default_factory=dict)
    problem: Callable[[], str | None] = lambda: None
    label_workers: Callable[[Any], tuple[int, int, str]] = lambda section: (
        1,
        1,
        "in process, one call at a time",
    )

    @contextmanager
    def executor(
        self, workers: int = 1, address: str | None = None, share_cores: bool = True
    ) -> Iterator[Executor]:
        """One executor for every task (``open``): ``workers`` sizes a local
        pool, ``address`` names a scheduler; with ``share_cores`` each local
        worker's torch uses its share of the cores (:func:`threads_per_worker`,
        :func:`limit_threads`)."""
        if self.open is None:
            raise ValueError(
                f"executor: kind {self.name!r} opens its pools from its whole "
                "section (open_pools), not from a worker count"
            )
        if int(workers) != workers or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers}")
        threads = threads_per_worker(int(workers)) if share_cores else None
        with self.open(int(workers), address, threads) as executor:
            yield executor

    @contextmanager
    def open_pools(self, section) -> Iterator[tuple[Executor, Executor]]:
        """``(tasks, labels)`` of the executor ``section`` (its ``workers``
        and ``address`` when this kind reads them)."""
        if self.pools is not None:
            with self.pools(section) as pair:
                yield pair
            return
        with self.executor(section.workers, section.address) as executor:
            yield executor, executor

    def size(self, section) -> int | None:
        """The configured number of workers, or None (count those seen)."""
        if "workers" in self.keys and not section.address:
            return section.workers
        return None


def _slurm_pools(section):
    return slurm_pools(section.label_jobs(), section.fit)


def _local_workers(section) -> tuple[int, int, str]:
    if section.address:  # a scheduler started elsewhere: its size unknown
        return (
            section.workers,
            1,
            f"the Dask scheduler at {section.address} (its workers are not "
            f"known here; counted as `workers`: {section.workers})",
        )
    return section.workers, 1, f"{section.workers} {section.kind} workers"


def _slurm_workers(section) -> tuple[int, int, str]:
    return (
        section.max_jobs,
        section.cores,
        f"{section.max_jobs} Slurm label jobs of {section.cores} cores",
    )


EXECUTORS: Registry[ExecutorType] = Registry(
    "executor kind",
    {
        "inprocess": ExecutorType(
            "inprocess",
            "each task at once in this process (the simplest to debug)",
            open=_in_process,
            in_process=True,
        ),
        "process": ExecutorType(
            "process",
            "a local process pool of `workers`",
            open=_process_pool,
            keys=("workers",),
            label_workers=_local_workers,
        ),
        "dask": ExecutorType(
            "dask",
            "a Dask LocalCluster of `workers`, or the scheduler at `address`",
            open=_dask,
            keys=("workers", "address"),
            label_workers=_local_workers,
        ),
        "slurm": ExecutorType(
            "slurm",
            "Slurm worker jobs hyperal submits itself (the Slurm keys shape "
            "them; `fit` gives model tasks jobs of their own)",
            pools=_slurm_pools,
            keys=(*SLURM_KEYS, "fit"),
            refuses={
                "workers": "workers: for kind slurm, say max_jobs",
                "address": "address: kind slurm starts its own scheduler; to "
                "use one started by hand, say kind: dask with its address",
            },
            problem=slurm_problem,
            label_workers=_slurm_workers,
        ),
    },
)
"""Every executor kind, by name: how it opens its pools, which keys of the
executor section it reads, and what it needs of the machine."""


def make_executor(
    kind: str = "inprocess",
    *,
    workers: int = 1,
    address: str | None = None,
    share_cores: bool = True,
) -> AbstractContextManager[Executor]:
    """A context manager yielding the Executor of ``kind`` (a name of
    :data:`EXECUTORS` that opens one executor for every task;
    :meth:`ExecutorType.executor`).

    ``workers`` sizes the process pool or the Dask LocalCluster; ``address``
    connects Dask to a running scheduler instead (e.g. ``tcp://host:8786``).
    With ``share_cores`` the local workers share this machine's cores: each
    worker's torch uses :func:`threads_per_worker` threads
    (:func:`limit_threads`); a scheduler at ``address`` is left as it is.
    """
    return EXECUTORS[kind].executor(workers, address, share_cores)
