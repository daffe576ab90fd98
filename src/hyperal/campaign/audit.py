"""An audit share of each loop's labels: frames drawn uniformly at random.

The frames an uncertainty rule selects are, by design, not a fair sample of
what the loop explored: the committee's error on them overstates its error on
the explored distribution (they were picked for looking wrong). With
``selection.random_share: s`` a share s of the loop's trajectories give a
frame drawn uniformly among their physical frames instead — the same limits,
no use of the score — stored with ``audit = 1``. The committee that explored
them (the previous loop's) never saw them, so its errors on them are an
unbiased estimate of its error on the explored distribution; the loop's
metrics keep them (:attr:`~hyperal.runs.results.LoopMetrics.audit`),
``hyperal status`` prints the force RMSE with a bootstrap interval over the
audit structures, and ``stop.audit_force_rmse_meV_A`` may stop on it. The
audit labels train the next committee like any other: they are paid labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hyperal.campaign.config import CampaignConfig
from hyperal.runs.context import StageContext
from hyperal.runs.records import Split
from hyperal.runs.results import SplitErrors
from hyperal.runs.stages import errors_on

#: A stream of its own for drawing which trajectories are audited.
_STREAM = 0xA0D17


def audit_starts(seed: int, loop: int, starts: Sequence[int], share: float) -> set[int]:
    """Which of a loop's evolved ``starts`` (start indices) give an audit
    frame: round(share × their number) of them, drawn by the campaign seed and
    the loop alone, so a resumed loop audits the same ones."""
    starts = sorted(starts)
    k = round(share * len(starts))
    if not k:
        return set()
    rng = np.random.default_rng([seed, loop, _STREAM])
    return {starts[i] for i in rng.choice(len(starts), size=k, replace=False)}


def audit_errors(ctx: StageContext[CampaignConfig], loop: int) -> SplitErrors | None:
    """The errors of the committee that explored loop ``loop`` (loop − 1's)
    on the loop's labelled audit frames; None without any."""
    images = [
        atoms
        for atoms in ctx.store.labelled(
            split=Split.TRAIN, max_loop=loop, runs=[ctx.run]
        )
        if atoms.info.get("loop") == loop and atoms.info.get("audit")
    ]
    if not images or loop < 1:
        return None
    return errors_on(ctx, loop, ctx.checkpoint(loop - 1), images)


def audit_estimate(
    errors: SplitErrors, *, draws: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float, int]:
    """Force RMSE (meV/Å) of audit ``errors`` with its percentile bootstrap
    interval over the audit structures: (rmse, low, high, structures). NaN
    bounds without per-structure errors or with one structure."""
    sse = np.asarray(errors.parity.force_sse, dtype=float)
    count = 3 * np.asarray(errors.parity.natoms, dtype=float)
    rmse = errors.all.force_rmse_meV_A
    if len(sse) < 2 or len(sse) != len(count):
        return rmse, math.nan, math.nan, len(sse)
    rng = np.random.default_rng(seed)
    pick = rng.integers(len(sse), size=(draws, len(sse)))
    values = 1e3 * np.sqrt(sse[pick].sum(axis=1) / count[pick].sum(axis=1))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return rmse, float(low), float(high), len(sse)


def audit_lines(metrics) -> list[str]:
    """One line per loop with an audit: what ``hyperal status`` prints."""
    lines = []
    for m in metrics:
        if m.audit is None:
            continue
        rmse, low, high, n = audit_estimate(m.audit)
        lines.append(
            f"audit loop {m.loop}: the exploring committee's force RMSE on its "
            f"{n} random label(s) {rmse:.0f} meV/Å [{low:.0f}, {high:.0f}] "
            "(95 % bootstrap over them: unbiased for the explored distribution, "
            "unlike the selected frames')"
        )
    return lines
