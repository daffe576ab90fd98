"""The active-learning loop: a thin sequence of the stages of
:mod:`hyperal.campaign.stages`.

Loop 0 (initial data): rattled known phases are relaxed by the oracle; every
ionic step is a labelled structure; a ``train_fraction`` of the trajectories
trains the first committee, the rest is the frozen *gentle* test set.

Loop k >= 1: new starts (derived metal, derived oxide, random) -> a
``difficult_fraction`` of them labelled directly into the *difficult* test set
(never trained on) -> the rest evolved by the scheme on the current committee
-> one frame selected per trajectory -> labelled -> the committee refitted on
all training data (warm-started from the previous loop's weights unless
``committee.warm_start`` is false) -> errors on the gentle and difficult sets
per structure type recorded.

With a ``stop`` section, ``loops`` is a maximum: a loop that meets a stopping
criterion (:mod:`hyperal.campaign.stopping`) is the last.

After the last loop every loop's committee is evaluated again on the final
frozen sets — the gentle set and the union of all loops' difficult sets — so
the learning curve compares the same structures at every point.

Resume: every stage first asks the store what is already there, so a killed
run repeats at most the calls that were in flight, and never labels a
structure whose label was stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager

from hyperal.campaign.config import CampaignConfig
from hyperal.campaign.executors import make_executor
from hyperal.campaign.fingerprint import check, fingerprint, refusal
from hyperal.campaign.progress import Progress
from hyperal.campaign.records import MAIN_RUN
from hyperal.campaign.results import LoopMetrics
from hyperal.campaign.stages import (
    CampaignError,
    StageContext,
    active_loop,
    final_evaluation,
    finished,
    frozen_test_sets,
    initial_loop,
)
from hyperal.campaign.stopping import clear_stop, record_stop, stop_reason
from hyperal.campaign.store import Store
from hyperal.oracle import Oracle


@contextmanager
def executors(config: CampaignConfig) -> Iterator[tuple[Executor, Executor | None]]:
    """The campaign's task executor and, in process with background labels,
    the coordinator's labelling thread (else None); both closed on exit."""
    e = config.executor
    background = e.kind == "inprocess" and e.background_labels
    with (
        make_executor(e.kind, workers=e.workers, address=e.address) as executor,
        ThreadPoolExecutor(max_workers=1) as labeller,
    ):
        yield executor, labeller if background else None


def make_oracle(config: CampaignConfig) -> Oracle:
    """The campaign's oracle from its ``oracle`` section (calls' folders
    beside the store by default)."""
    return config.oracle.build(config.store)


class Campaign:
    """Runs (or resumes) a campaign described by a :class:`CampaignConfig`.

    Parameters
    ----------
    config : CampaignConfig
    progress : callable, optional
        Receives a :class:`~hyperal.campaign.progress.Progress` after every
        finished task.
    run : str
        The run's name in the store (``main`` for ``hyperal run``).
    accept_changes : bool
        Continue a store written with other exploration, selection or fit
        settings (:data:`hyperal.campaign.fingerprint.ACCEPTABLE`); other
        differences are refused either way.
    accept_oracle_change : bool
        Continue a store written with another oracle (or other oracle
        arguments): the labels already stored stay; the change is recorded
        in the store (setting ``oracle_changes:<run>``).
    """

    def __init__(
        self,
        config: CampaignConfig,
        *,
        progress: Callable[[Progress], None] | None = None,
        run: str = MAIN_RUN,
        accept_changes: bool = False,
        accept_oracle_change: bool = False,
    ):
        self.config = config
        self.accept_changes = accept_changes
        self.accept_oracle_change = accept_oracle_change
        self.store = Store(config.store)
        self.oracle = make_oracle(config)
        self.progress = progress or (lambda report: None)
        self.run_name = run

    def _record_oracle_change(self, old: dict | None, new: dict | None) -> None:
        """Keep, in the store, which oracle labelled what: the old and new
        oracle settings and the labels stored before the change."""
        import datetime

        key = f"oracle_changes:{self.run_name}"
        changes = list(self.store.setting(key) or [])
        changes.append(
            {
                "from": old,
                "to": new,
                "ok_labels_before": self.store.count(oracle_status="ok"),
                "failed_labels_before": self.store.count(oracle_status="failed"),
                "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            }
        )
        # the starts whose initial relaxation the old oracle failed entirely
        # are relaxed again by the new one (the failed rows are kept, renamed)
        changes[-1]["initial_rows_set_aside"] = self.store.supersede_failed_initial(
            self.run_name, len(changes)
        )
        self.store.set_setting(key, changes)

    def run(self) -> list[LoopMetrics]:
        """Run every loop not yet finished, then the final evaluation;
        returns the per-loop metrics."""
        cfg = self.config
        with self.store.lock():  # one writer per store, or StoreLocked
            return self._run(cfg)

    def _run(self, cfg: CampaignConfig) -> list[LoopMetrics]:
        # a store belongs to one campaign (hyperal.campaign.fingerprint)
        key = f"fingerprint:{self.run_name}"
        current = fingerprint(cfg.model_dump(mode="json"))
        stored = self.store.setting(key)
        refused = check(
            stored,
            current,
            accept=self.accept_changes,
            accept_oracle=self.accept_oracle_change,
        )
        if refused:
            raise CampaignError(refusal(refused))
        if stored is not None and stored.get("oracle") != current.get("oracle"):
            self._record_oracle_change(stored.get("oracle"), current.get("oracle"))
        self.store.set_setting(key, current)
        if self.run_name == MAIN_RUN:  # what the report says was run
            self.store.set_setting("campaign", cfg.model_dump(mode="json"))
        with executors(cfg) as (executor, labeller):
            ctx = StageContext(
                cfg,
                self.store,
                executor,
                self.oracle,
                self.run_name,
                self.progress,
                labeller=labeller,
            )
            checkpoint = finished(ctx, 0) or initial_loop(ctx)
            last = cfg.loops
            for loop in range(1, cfg.loops + 1):
                checkpoint = finished(ctx, loop) or active_loop(ctx, loop, checkpoint)
                reason = stop_reason(ctx, loop)
                if reason:
                    record_stop(ctx, loop, reason)
                    last = loop
                    break
            else:
                clear_stop(ctx)
            final_evaluation(ctx, last, frozen_test_sets(ctx))
        return self.store.metrics(self.run_name)
