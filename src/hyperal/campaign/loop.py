"""The active-learning loop: a thin sequence of the stages of
:mod:`hyperal.campaign.stages` on the run kernel
(:mod:`hyperal.runs`).

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

import functools
from collections.abc import Callable

from hyperal.campaign.config import CampaignConfig
from hyperal.campaign.stages import (
    active_loop,
    final_evaluation,
    finished,
    frozen_test_sets,
    initial_loop,
)
from hyperal.campaign.stopping import clear_stop, record_stop, stop_reason
from hyperal.runs.progress import Progress
from hyperal.runs.records import MAIN_RUN
from hyperal.runs.results import LoopMetrics
from hyperal.runs.runner import RunPlan, open_run
from hyperal.runs.store import Store


class Campaign:
    """Runs (or resumes) a campaign described by a :class:`CampaignConfig`.

    Parameters
    ----------
    config : CampaignConfig
    progress : callable, optional
        Receives a :class:`~hyperal.runs.progress.Progress` after every
        finished task.
    run : str
        The run's name in the store (``main`` for ``hyperal run``).
    accept_changes : bool
        Continue a store written with other exploration, selection or fit
        settings (:data:`hyperal.runs.fingerprint.ACCEPTABLE`); other
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
        self.progress = progress
        self.run_name = run
        #: When each task of the last :meth:`run` ran on a pool of workers,
        #: and where (:class:`~hyperal.runs.executors.Span`; none in process).
        self.spans: list = []

    @functools.cached_property
    def store(self) -> Store:
        """The store, opened when first asked for — not when the campaign is
        made, so a run refused before it starts (a Slurm executor without
        sbatch) leaves no store file behind."""
        return Store(self.config.store)

    def plan(self) -> RunPlan:
        """The campaign as the runner sees it: a store belongs to one
        campaign (:mod:`hyperal.runs.fingerprint`)."""
        return RunPlan.of(
            self.config,
            what="campaign",
            run=self.run_name,
            # what the report says was run
            record_as="campaign" if self.run_name == MAIN_RUN else None,
            accept_changes=self.accept_changes,
            accept_oracle_change=self.accept_oracle_change,
            oracle_run=self.run_name,
        )

    def run(self) -> list[LoopMetrics]:
        """Run every loop not yet finished, then the final evaluation;
        returns the per-loop metrics."""
        cfg = self.config
        with open_run(self.plan(), self.progress) as opened:
            ctx = opened.context(cfg, self.run_name)
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
            self.spans = opened.spans
        return self.store.metrics(self.run_name)
