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
    """

    def __init__(
        self,
        config: CampaignConfig,
        *,
        progress: Callable[[Progress], None] | None = None,
        run: str = MAIN_RUN,
        accept_changes: bool = False,
    ):
        self.config = config
        self.accept_changes = accept_changes
        self.store = Store(config.store)
        self.oracle = make_oracle(config)
        self.progress = progress or (lambda report: None)
        self.run_name = run

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
        refused = check(self.store.setting(key), current, accept=self.accept_changes)
        if refused:
            raise CampaignError(refusal(refused))
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
