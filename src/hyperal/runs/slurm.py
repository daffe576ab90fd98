"""Slurm worker jobs that hyperal submits itself (``executor: {kind: slurm}``),
through dask-jobqueue's ``SLURMCluster``: a Dask scheduler in this process,
``max_jobs`` batch jobs each running one Dask worker that takes one task at
a time with ``cores`` CPUs for it.

Two pools when ``executor.fit`` is given: the label jobs (the oracle's, on a
CPU partition) and the model jobs (fits, evolutions, predictions — on a GPU
partition with ``gpus: 1``); else one pool does both.

A worker job that dies — cancelled, pre-empted, out of walltime, its node
lost — takes its running task with it: the scheduler gives that task to
another worker (a label that had not returned was not stored, so nothing is
lost and no stored structure is paid again), and the pool submits a job to
replace it (the pool is kept at ``max_jobs``: dask-jobqueue's own adaptive
scaling does not replace a job that died, dask/dask-jobqueue#611, so a
keeper thread asks the cluster for its ``max_jobs`` every few seconds, and
a worker gone for :data:`LOST_AFTER` counts as lost). A task that kills three
workers in a row (an oracle that runs out of memory) ends the run with
Dask's ``KilledWorker``.
"""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import ExitStack, contextmanager

from pydantic import Field, field_validator

from hyperal.runs.settings import Settings


class SlurmJobs(Settings):
    """One kind of Slurm worker job, started by hyperal through dask-jobqueue:
    each job is one Dask worker that runs one task at a time with ``cores``
    CPUs (and ``gpus`` GPUs) for it."""

    queue: str | None = Field(None, description="partition (sbatch -p)")
    account: str | None = Field(None, description="account to charge (sbatch -A)")
    cores: int = Field(1, ge=1, description="CPUs per job (--cpus-per-task)")
    memory: str = Field("4GB", description="memory per job (--mem), e.g. 16GB")
    walltime: str = Field("01:00:00", description="time limit per job (-t)")
    max_jobs: int = Field(1, ge=1, description="worker jobs kept running")
    gpus: int = Field(0, ge=0, description="GPUs per job (--gres=gpu:N)")
    job_extra: list[str] = Field(
        default_factory=list,
        description="more #SBATCH options, e.g. ['--qos=normal']",
    )
    prologue: list[str] = Field(
        default_factory=list,
        description="shell lines run before the worker starts, e.g. "
        "['module load vasp', 'export OMP_NUM_THREADS=4']",
    )
    log_directory: str | None = Field(
        None, description="folder of the worker jobs' Slurm logs"
    )
    interface: str | None = Field(
        None,
        description="network interface the workers reach this process on "
        "(e.g. ib0); default: the hostname's address",
    )

    @field_validator("walltime")
    @classmethod
    def _slurm_time(cls, value: str) -> str:
        walltime_seconds(value)
        return value


def walltime_seconds(value: str) -> int:
    """Seconds of a Slurm time limit: ``M``, ``M:S``, ``H:M:S``, ``D-H``,
    ``D-H:M`` or ``D-H:M:S``; a ValueError otherwise."""
    text = str(value).strip()
    try:
        days, dash, rest = text.rpartition("-")
        if dash and not days:
            raise ValueError
        parts = [int(p) for p in rest.split(":")]
        day = int(days) if days else 0
        if any(p < 0 for p in parts) or day < 0 or not 1 <= len(parts) <= 3:
            raise ValueError
        if days:  # D-H, D-H:M, D-H:M:S
            h, m, s = (parts + [0, 0])[:3]
        else:  # M, M:S, H:M:S
            h, m, s = [(0, *parts, 0)[:3], (0, *parts), parts][len(parts) - 1]
        return ((day * 24 + h) * 60 + m) * 60 + s
    except ValueError:
        raise ValueError(
            f"expected a Slurm time limit such as 24:00:00 or 2-00:00:00, got {value!r}"
        ) from None


#: The keys that say how Slurm jobs look: only for ``kind: slurm``.
SLURM_KEYS = tuple(SlurmJobs.model_fields)


def cluster_options(jobs: SlurmJobs, name: str) -> dict:
    """The ``SLURMCluster`` keywords of ``jobs``: one worker process of one
    thread per job (one task at a time), ``cores`` CPUs reserved for it."""
    directives = list(jobs.job_extra)
    if jobs.gpus:
        directives.append(f"--gres=gpu:{jobs.gpus}")
    return {
        "cores": 1,  # Dask threads: one task at a time per job
        "processes": 1,
        "job_cpu": jobs.cores,  # --cpus-per-task: what the task may use
        "memory": jobs.memory,
        "walltime": jobs.walltime,
        "queue": jobs.queue,
        "account": jobs.account,
        "job_name": name,
        "job_extra_directives": directives,
        "job_script_prologue": list(jobs.prologue),
        "log_directory": jobs.log_directory,
        "interface": jobs.interface,
        "python": sys.executable,
        "scheduler_options": {"dashboard_address": None},
    }


#: How long a worker may be gone before its job counts as lost and is replaced.
LOST_AFTER = "5s"
#: How often the keeper checks that ``max_jobs`` jobs are there (s).
KEEP_EVERY_S = 2.0


@contextmanager
def keep_jobs(cluster, jobs: int) -> Iterator[None]:
    """Keep ``cluster`` at ``jobs`` worker jobs while inside: a job that
    died is submitted again."""
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(KEEP_EVERY_S):
            try:
                cluster.scale(jobs=jobs)  # re-creates the jobs no longer there
            except Exception:  # the cluster is closing: nothing to keep
                return

    keeper = threading.Thread(target=keep, name="hyperal-slurm-keeper", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join(timeout=10)


def slurm_problem() -> str | None:
    """Why this machine cannot submit hyperal's Slurm jobs (one line naming
    ``executor.kind``, with the install that mends it), or None. Asked before
    a run opens its store, so a run that cannot start leaves nothing."""
    try:
        # optional dependency (hyperal[dask] / hyperal[slurm])
        import dask  # noqa: F401
        import dask.distributed  # noqa: F401

        # optional dependency (hyperal[slurm])
        import dask_jobqueue  # noqa: F401
    except ImportError:
        return (
            "executor.kind: slurm needs dask-jobqueue "
            "(pip install -c constraints.txt -e '.[slurm]')"
        )
    if shutil.which("sbatch") is None:
        return (
            "executor.kind: slurm submits jobs with sbatch, which this machine "
            "does not have; run hyperal where jobs can be submitted (a login node)"
        )
    return None


@contextmanager
def slurm_pools(
    labels: SlurmJobs, fit: SlurmJobs | None = None
) -> Iterator[tuple[Executor, Executor]]:
    """``(tasks, labels)``: the executors of the model jobs (``fit``) and of
    the label jobs (``labels``; the same pool without ``fit``). Every job is
    cancelled on exit, also on an error. Ask :func:`slurm_problem` first."""
    # optional dependency (hyperal[dask] / hyperal[slurm])
    import dask
    from dask.distributed import Client

    # optional dependency (hyperal[slurm])
    from dask_jobqueue import SLURMCluster

    with ExitStack() as stack:
        stack.enter_context(
            dask.config.set({"distributed.deploy.lost-worker-timeout": LOST_AFTER})
        )

        def pool(jobs: SlurmJobs, name: str) -> Executor:
            cluster = stack.enter_context(SLURMCluster(**cluster_options(jobs, name)))
            cluster.scale(jobs=jobs.max_jobs)
            client = stack.enter_context(Client(cluster))
            stack.enter_context(keep_jobs(cluster, jobs.max_jobs))
            return client.get_executor()

        label_pool = pool(labels, "hyperal-label")
        tasks = label_pool if fit is None else pool(fit, "hyperal-fit")
        yield tasks, label_pool
