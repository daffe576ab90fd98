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

from hyperal.runs.context import RunError
from hyperal.runs.sections import ExecutorConfig, SlurmJobs


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
        import dask  # noqa: F401
        import dask.distributed  # noqa: F401
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
def slurm_pools(config: ExecutorConfig) -> Iterator[tuple[Executor, Executor]]:
    """``(tasks, labels)``: the executors of the model jobs and of the label
    jobs (the same one without ``config.fit``). Every job is cancelled on
    exit, also on an error."""
    problem = slurm_problem()
    if problem:
        raise RunError(problem)
    import dask
    from dask.distributed import Client
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

        labels = pool(config.label_jobs(), "hyperal-label")
        tasks = labels if config.fit is None else pool(config.fit, "hyperal-fit")
        yield tasks, labels
