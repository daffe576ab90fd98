"""Engines: every campaign task goes through a ``concurrent.futures.Executor``
(docs/method.md §9). In-process by default, a local process pool, or Dask distributed
(``dask.distributed.Client.get_executor()`` on a LocalCluster or a scheduler
address); Slurm worker jobs that hyperal submits itself are
:mod:`hyperal.runs.slurm`. :class:`TimedExecutor` keeps when each task ran and
where. Tasks are module-level functions of picklable arguments; nothing
outside this module and :mod:`hyperal.runs.slurm` imports Dask."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

ExecutorKind = Literal["inprocess", "process", "dask"]


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
    import torch

    torch.set_num_threads(threads)


@contextmanager
def all_cores():
    """Torch on every core this process may use while inside, then back to
    the worker's share: for a fit, the loop's serial part — the next loop's
    evolutions wait for its committee, so the cores the other workers would
    use for them are free (on a Slurm job: the job's cores, where Dask's
    workers start with one thread)."""
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
def make_executor(
    kind: ExecutorKind = "inprocess",
    *,
    workers: int = 1,
    address: str | None = None,
    share_cores: bool = True,
):
    """A context manager yielding the Executor of ``kind``.

    ``workers`` sizes the process pool or the Dask LocalCluster; ``address``
    connects Dask to a running scheduler instead (e.g. ``tcp://host:8786``).
    With ``share_cores`` the local workers share this machine's cores: each
    worker's torch uses :func:`threads_per_worker` threads
    (:func:`limit_threads`); a scheduler at ``address`` is left as it is.
    """
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers}")
    threads = threads_per_worker(int(workers)) if share_cores else None
    if kind == "inprocess":
        yield InProcessExecutor()
    elif kind == "process":
        # spawn, not fork: a forked child of a process whose torch/OpenMP
        # threads already ran can deadlock (seen here with the BPNN committee)
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=int(workers),
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
    elif kind == "dask":
        try:
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
                n_workers=int(workers),
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
    else:
        raise ValueError(
            f"executor: unknown kind {kind!r}; known: inprocess, process, dask"
        )
