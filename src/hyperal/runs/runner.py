"""The one preamble every workflow runs under: the store's lock (one writer),
the fingerprint that says which run the store holds (a run with other
settings is refused, naming the keys), what the report reads of the run's
settings, the oracle and the executors — then the workflow's own stages, on
contexts made by :meth:`OpenRun.context`.

A campaign, a benchmark, a trajectory benchmark and a barrier campaign each
describe themselves as a :class:`RunPlan` and run their stages inside
:func:`open_run`::

    with open_run(plan, progress) as opened:
        ctx = opened.context(config, run=MAIN_RUN)
        ...  # the workflow's stages
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from hyperal.oracle import Oracle
from hyperal.runs.context import RunError, RunSettings, StageContext, ignore_progress
from hyperal.runs.executors import EXECUTORS, Span, TimedExecutor
from hyperal.runs.fingerprint import check, fingerprint, refusal
from hyperal.runs.flow import Flow
from hyperal.runs.progress import Progress
from hyperal.runs.query import Where
from hyperal.runs.records import MAIN_RUN, OracleStatus
from hyperal.runs.sections import ExecutorConfig, OracleConfig
from hyperal.runs.store import Store


@dataclass(frozen=True)
class RunPlan:
    """What a workflow tells the runner about itself.

    Parameters
    ----------
    store : str
        The store's path or URL.
    what : str
        What the store holds, for messages ("campaign", "benchmark" ...).
    key : str
        The store setting that keeps the fingerprint.
    fingerprint : dict
        The settings that decide the store's data
        (:func:`hyperal.runs.fingerprint.fingerprint`).
    oracle, executor
        The workflow's ``oracle`` and ``executor`` sections.
    records : mapping
        Settings written to the store as they are (what status and the
        report say was run).
    grows : str, optional
        A key of ``fingerprint`` whose entries (a benchmark's variants or
        sources) may be added or left out; only those both hold must agree.
    accept_changes : bool
        Continue with changes :data:`~hyperal.runs.fingerprint.ACCEPTABLE`.
    accept_oracle_change : bool
        Continue with another oracle: the change is recorded under
        ``oracle_changes:<oracle_run>``, and that run's loop-0 starts the
        old oracle failed entirely are set aside to be relaxed again.
    oracle_run : str
        The run whose oracle changes are recorded.
    background_labels : bool
        In process, with ``executor.background_labels``: give the contexts a
        coordinator thread for labels that overlap evolutions and fits.
    """

    store: str
    what: str
    key: str
    fingerprint: dict[str, Any]
    oracle: OracleConfig
    executor: ExecutorConfig
    records: Mapping[str, Any] = field(default_factory=dict)
    grows: str | None = None
    accept_changes: bool = False
    accept_oracle_change: bool = False
    oracle_run: str = MAIN_RUN
    background_labels: bool = True

    @classmethod
    def of(
        cls, config: Any, *, what: str, run: str, record_as: str | None, **options
    ) -> RunPlan:
        """The plan of a run whose file ``config`` (a campaign or barrier
        campaign: ``store``, ``oracle``, ``executor``) decides its data: the
        fingerprint of its settings under ``fingerprint:<run>``, the settings
        themselves recorded as ``record_as`` (when given); ``options`` are
        the other fields."""
        settings = config.model_dump(mode="json")
        return cls(
            store=config.store,
            what=what,
            key=f"fingerprint:{run}",
            fingerprint=fingerprint(settings),
            oracle=config.oracle,
            executor=config.executor,
            records={record_as: settings} if record_as else {},
            **options,
        )


@dataclass(frozen=True)
class OpenRun:
    """A store locked and claimed, with the run's oracle and executors."""

    store: Store
    oracle: Oracle
    executor: Executor
    labeller: Executor | None
    progress: Callable[[Progress], None] = ignore_progress
    labels: Executor | None = None
    flow: Flow = field(default_factory=Flow)

    @property
    def spans(self) -> list[Span]:
        """When each task ran on a pool of workers, and where (in process:
        none)."""
        # labels is None when the task executor labels too: no pool twice
        pools = [self.executor] if self.labels is None else [self.executor, self.labels]
        return [span for p in pools for span in getattr(p, "spans", [])]

    def context(
        self, config: RunSettings, run: str = MAIN_RUN, shared: str | None = None
    ) -> StageContext:
        """A stage context of ``run`` (sharing loop 0 and the difficult sets
        of the run ``shared``, when given) with ``config``'s settings."""
        return StageContext(
            config,
            self.store,
            self.executor,
            self.oracle,
            run,
            self.progress,
            labeller=self.labeller,
            labels=self.labels,
            shared=shared,
            flow=self.flow,
        )


@contextmanager
def executors(
    executor: ExecutorConfig, background_labels: bool = True
) -> Iterator[tuple[Executor, Executor | None, Executor | None]]:
    """``(tasks, labeller, labels)``: the task executor of ``executor``; where
    labels stream to while other work goes on (:attr:`StageContext.labeller`:
    the label workers of a pool; in process with background labels, a
    coordinator thread; else None); and the label workers when they are a
    pool of their own (Slurm label jobs beside model jobs; else None). Pools
    are timed (:class:`~hyperal.runs.executors.TimedExecutor`). All closed
    on exit."""
    kind = EXECUTORS[executor.kind]
    with ExitStack() as stack:
        tasks, labels = stack.enter_context(kind.open_pools(executor))
        thread = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        if not kind.in_process:  # when each task ran, and where
            timed_tasks = TimedExecutor(tasks)
            tasks, labels = (
                timed_tasks,
                timed_tasks if labels is tasks else TimedExecutor(labels),
            )
        if not (background_labels and executor.background_labels):
            labeller = None
        else:  # in process: one coordinator thread; else the label workers
            labeller = thread if kind.in_process else labels
        yield tasks, labeller, (None if labels is tasks else labels)


def claim(store: Store, plan: RunPlan) -> None:
    """Refuse ``store`` when it holds a run with other settings than
    ``plan``'s (a :class:`RunError` naming the keys), else record ``plan``'s
    fingerprint — and, with an accepted oracle change, the change."""
    stored = store.setting(plan.key)
    current = plan.fingerprint
    if stored is not None:
        old, new = stored, current
        if plan.grows is not None:  # only the entries both hold must agree
            common = set(stored[plan.grows]) & set(current[plan.grows])
            old = {**stored, plan.grows: {k: stored[plan.grows][k] for k in common}}
            new = {**current, plan.grows: {k: current[plan.grows][k] for k in common}}
            grown = {**stored[plan.grows], **current[plan.grows]}
            current = {**current, plan.grows: grown}
        refused = check(
            old,
            new,
            accept=plan.accept_changes,
            accept_oracle=plan.accept_oracle_change,
        )
        if refused:
            raise RunError(refusal(refused, plan.what))
        if stored.get("oracle") != current.get("oracle"):
            record_oracle_change(
                store, plan.oracle_run, stored.get("oracle"), current.get("oracle")
            )
    store.set_setting(plan.key, current)


def record_oracle_change(
    store: Store, run: str, old: dict | None, new: dict | None
) -> None:
    """Keep, in the store, which oracle labelled what: the old and new oracle
    settings and the labels stored before the change. The starts of ``run``
    whose initial relaxation the old oracle failed entirely are relaxed again
    by the new one (the failed rows are kept, renamed)."""
    key = f"oracle_changes:{run}"
    changes = list(store.setting(key) or [])
    changes.append(
        {
            "from": old,
            "to": new,
            "ok_labels_before": store.count(Where(status=OracleStatus.OK)),
            "failed_labels_before": store.count(Where(status=OracleStatus.FAILED)),
            "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
    )
    changes[-1]["initial_rows_set_aside"] = store.supersede_failed_initial(
        run, len(changes)
    )
    store.set_setting(key, changes)


@contextmanager
def open_run(
    plan: RunPlan, progress: Callable[[Progress], None] | None = None
) -> Iterator[OpenRun]:
    """Lock ``plan``'s store, claim it (:func:`claim`), write ``plan.records``,
    build the oracle (its calls' folders beside the store by default) and
    open the executors; everything is released on exit, also on an error."""
    # before the store exists: a run that cannot start leaves no store, no lock
    problem = EXECUTORS[plan.executor.kind].problem()
    if problem:
        raise RunError(problem)
    store = Store(plan.store)
    with store.lock():  # one writer per store, or StoreLocked
        claim(store, plan)
        for key, value in plan.records.items():
            store.set_setting(key, value)
        oracle = plan.oracle.build(plan.store)
        with executors(plan.executor, plan.background_labels) as pools:
            tasks, labeller, labels = pools
            opened = OpenRun(
                store, oracle, tasks, labeller, progress or ignore_progress, labels
            )
            yield opened
            # a label still in flight (a difficult one of a loop a stopping
            # criterion cut) is paid for: store it before the pools close
            opened.flow.drain()
