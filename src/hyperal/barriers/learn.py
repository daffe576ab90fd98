"""The barrier campaign (docs/method.md §7): learn diffusion barriers of an
alloy across its hop environments, loop after loop, for few oracle calls.

Loop 0: hops drawn at random (a supercell, the hop at a random environment
of the hop tool) are searched with the oracle itself (:func:`find_saddle`
with every calculation an :meth:`Oracle.label`): ``initial.train`` of them
give the first training data (relaxed start, saddle, relaxed end), the other
``initial.random_set`` the frozen random check — their structures a test
set, their oracle barriers the reference of the barrier error. A committee
is fitted.

Loop k >= 1: ``starts`` new hops are searched on the committee (through the
executor). A hop whose ends do not relax on the committee is an
*instability*: its unrelaxed start is labelled and trains, and so does the
last frame of the committee's failed relaxation whose atoms are still
``triage.min_distance_A`` apart (*collapse*). A saddle with atoms closer than
``triage.min_distance_A`` or committee forces beyond
``triage.max_force_eV_A`` is *blocked* (never labelled, counted). Every other
MLIP saddle is labelled by the oracle, with the committee's relaxed start
when the energy rule is on: oracle max force above
``triage.artifact_force_eV_A`` makes it *artifactual* (it trains); a
committee barrier off the oracle's at those two structures by more than
``triage.barrier_error_eV`` sends saddle and start to training (*energy*);
else it is *proximal* (the proximal-saddle test set). The committee is
refitted (warm) and evaluated: errors on the proximal and random sets, and
the barriers of the random hops searched on the committee against the
oracle's, with a bootstrap interval over hops (:mod:`.statistics`).

The recipe composes its own stages (:mod:`.stages`: drawing hops in
:mod:`.hops`, searches as tasks in :mod:`.tasks`, metrics in :mod:`.metrics`)
with those every workflow shares (:mod:`hyperal.runs.stages`: fit, label,
resume): rows are written as they arrive under the run ``barriers``; a
killed run resumes where it stopped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from hyperal.barriers.config import BarrierConfig
from hyperal.barriers.metrics import BarrierMetrics, barrier_metrics, evaluate_barriers
from hyperal.barriers.records import BarrierSplit, BarrierStage
from hyperal.barriers.stages import (
    import_campaign,
    initial_barriers,
    search_saddles,
    sort_saddles,
)
from hyperal.barriers.tasks import RUN
from hyperal.runs.context import StageContext
from hyperal.runs.records import Split
from hyperal.runs.runner import RunPlan, open_run
from hyperal.runs.stages import (
    fit,
    label_pending,
    sound_checkpoint,
    stop_if_all_failed,
    warm_start,
)
from hyperal.runs.store import Store


def _finished(ctx: StageContext[BarrierConfig], loop: int) -> Path | None:
    done = any(m.loop == loop for m in barrier_metrics(ctx.store, ctx.run))
    return sound_checkpoint(ctx, loop) if done else None


def initial_barrier_loop(ctx: StageContext[BarrierConfig]) -> Path:
    source = import_campaign(ctx)
    initial_barriers(ctx)
    stop_if_all_failed(ctx, 0)
    warm = source is not None and source.warm_start
    checkpoint = fit(ctx, 0, init=source.checkpoint if warm else None)
    evaluate_barriers(ctx, 0, checkpoint)
    return checkpoint


def barrier_loop(ctx: StageContext[BarrierConfig], loop: int, checkpoint: Path) -> Path:
    # labels stream while the searches run (given a labeller); each
    # label_pending labels what is left and waits for its split's in flight
    search_saddles(ctx, loop, checkpoint)
    label_pending(ctx, loop, stage=BarrierStage.HOP, split=Split.TRAIN)
    label_pending(ctx, loop, stage=BarrierStage.HOP, split=Split.NONE)
    label_pending(ctx, loop, stage=BarrierStage.HOP, split=BarrierSplit.TAIL)
    stop_if_all_failed(ctx, loop)
    sort_saddles(ctx, loop)
    new = fit(ctx, loop, init=warm_start(ctx, loop))
    evaluate_barriers(ctx, loop, new)
    return new


class BarrierCampaign:
    """Runs (or resumes) a barrier campaign."""

    def __init__(
        self,
        config: BarrierConfig,
        progress: Callable | None = None,
        *,
        accept_changes: bool = False,
    ):
        self.config = config
        self.progress = progress
        self.accept_changes = accept_changes

    @functools.cached_property
    def store(self) -> Store:
        """The store, opened when first asked for — not when the barrier campaign is
        made, so a run refused before it starts (a Slurm executor without
        sbatch) leaves no store file behind."""
        return Store(self.config.store)

    def plan(self) -> RunPlan:
        """The barrier campaign as the runner sees it: a store belongs to one
        barrier campaign (as a campaign's does)."""
        return RunPlan.of(
            self.config,
            what="barrier campaign",
            run=RUN,
            record_as="barrier_campaign",
            accept_changes=self.accept_changes,
        )

    def run(self) -> list[BarrierMetrics]:
        """Run every loop not yet finished; returns the per-loop metrics."""
        cfg = self.config
        with open_run(self.plan(), self.progress) as opened:
            ctx = opened.context(cfg, RUN)
            checkpoint = _finished(ctx, 0) or initial_barrier_loop(ctx)
            for loop in range(1, cfg.loops + 1):
                checkpoint = _finished(ctx, loop) or barrier_loop(ctx, loop, checkpoint)
        return barrier_metrics(self.store)


__all__ = [
    "RUN",
    "BarrierCampaign",
    "BarrierMetrics",
    "barrier_metrics",
]
