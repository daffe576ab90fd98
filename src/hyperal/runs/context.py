"""What every stage of every workflow works with: a :class:`StageContext`
(the run's settings, store, executor, oracle, run name and progress
callback) over settings that only need to say what the shared stages read
(:class:`RunSettings`), and :class:`RunError`, a run that cannot go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from hyperal.models.options import CommitteeOptions
from hyperal.oracle import Oracle
from hyperal.runs.flow import Flow
from hyperal.runs.progress import Progress, StageKind
from hyperal.runs.query import Where
from hyperal.runs.records import MAIN_RUN, OracleStatus, validate_run
from hyperal.runs.sections import CalibrationConfig, ExecutorConfig
from hyperal.runs.store import Store


class SystemSettings(Protocol):
    @property
    def elements(self) -> Sequence[str]: ...


class RunSettings(Protocol):
    """What the shared stages read of a workflow's settings (a campaign, a
    benchmark variant and a barrier campaign each provide it): the seed,
    the system's elements, the committee's typed options, how σ is checked
    and the executor."""

    @property
    def seed(self) -> int: ...

    @property
    def system(self) -> SystemSettings: ...

    @property
    def committee(self) -> CommitteeOptions: ...

    @property
    def calibration(self) -> CalibrationConfig: ...

    @property
    def executor(self) -> ExecutorConfig: ...


#: The settings a workflow's stages read: ``StageContext[CampaignConfig]``
#: for the campaign's, ``StageContext[BarrierConfig]`` for the barriers'.
C = TypeVar("C", bound=RunSettings)


class RunError(RuntimeError):
    """A run that cannot go on for a reason in its data (one line)."""


def ignore_progress(report: Progress) -> None:
    """A progress callback that shows nothing."""


@dataclass
class Tally:
    """The oracle calls this process made in one loop of one run: how many,
    how many gave a label, and the first failure's reason."""

    calls: int = 0
    ok: int = 0
    first_failure: str = ""


@dataclass(frozen=True)
class StageContext(Generic[C]):
    """What every stage works with. ``run`` names this run's rows and
    checkpoints, so several runs can share one store. ``config`` is the
    workflow's own settings: a stage of one workflow says which
    (``ctx: StageContext[CampaignConfig]``) and reads them typed; the
    shared stages read only :class:`RunSettings`."""

    config: C
    store: Store
    executor: Executor
    oracle: Oracle
    run: str = MAIN_RUN
    progress: Callable[[Progress], None] = ignore_progress
    #: Where labels go while the coordinator's other work goes on
    #: (evolutions, fits): the pool itself for process, Dask and Slurm
    #: executors (each label written by the coordinator as it lands), a
    #: coordinator thread in process (each label written by that thread,
    #: :func:`hyperal.runs.tasks.label_and_record`); None: labels are made
    #: in turn.
    labeller: Executor | None = None
    #: The label workers when they are not the task executor's (Slurm label
    #: jobs beside model jobs); None: the task executor labels.
    labels: Executor | None = None
    #: The run that holds this run's initial data, loop-0 committee and
    #: difficult test sets (a benchmark's schemes share one); None: its own.
    shared: str | None = None
    #: Oracle calls made by this process per (run, loop)
    #: (:func:`hyperal.runs.stages.stop_if_all_failed`).
    tally: dict[tuple[str, int], Tally] = field(default_factory=dict)
    #: The tasks in flight of the whole run (shared by its contexts).
    flow: Flow = field(default_factory=Flow)

    def __post_init__(self):
        validate_run(self.run)
        if self.shared is not None:
            validate_run(self.shared)

    def with_run(self, run: str, shared: str | None = None) -> StageContext[C]:
        return replace(self, run=run, shared=shared)

    @property
    def label_executor(self) -> Executor:
        """Where a stage that waits for its labels sends them: the label
        workers when they are a pool of their own, else the task executor
        (in process: the calling thread, where the oracle's time limit can
        interrupt a call)."""
        return self.executor if self.labels is None else self.labels

    @property
    def data_runs(self) -> list[str]:
        """The runs whose labelled structures this run trains and tests on."""
        return [self.run] if self.shared is None else [self.shared, self.run]

    def checkpoint(self, loop: int) -> Path:
        """Directory of this run's committee after ``loop`` (loop 0's is the
        shared run's, when there is one)."""
        owner = self.shared if loop == 0 and self.shared is not None else self.run
        return self.store.checkpoint_path(loop, owner)

    def failures(self) -> int:
        return self.store.count(Where(status=OracleStatus.FAILED, run=self.run))

    def report(
        self,
        loop: int,
        kind: StageKind,
        done: int,
        total: int,
        message="",
        detail="",
    ):
        self.progress(
            Progress(
                loop, kind, done, total, self.failures(), message, self.run, detail
            )
        )
