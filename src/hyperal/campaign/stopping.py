"""When a campaign may stop early (docs/method.md §4): ``loops`` is then a
maximum, and a loop that meets a criterion of the ``stop`` section is the
last.

- **No more gain**: this loop's committee and the one ``patience`` loops
  earlier are measured on the same structures — the difficult structures
  written so far — and the campaign stops when the force RMSE fell by less
  than the fraction ``improvement``.
- **Nothing uncertain left**: the frames this loop explored and selected for
  labelling (the most uncertain of each trajectory) are predicted by the
  committee that explored them — before any of them was labelled or trained
  on — and their force σ (largest over atoms) is scaled by that committee's
  split-conformal factor (:mod:`hyperal.committee.calibration`, fitted on
  its difficult-set errors); the campaign stops when at least ``share`` of
  them lie below ``force_sigma_eV_A``. A factor needs at least 1/α − 1
  values in the calibration half (19 at α = 0.05): the per-structure factor
  of the difficult set is taken, else the gentle set's, else the per-atom
  factor of those sets; when every one is infinite the criterion never
  holds.

- **The audit says it is good enough**: with ``selection.random_share``,
  the exploring committee's force RMSE on the loop's randomly drawn labels
  (:mod:`hyperal.campaign.audit`) has a 95 % bootstrap interval whose upper
  end is below ``audit_force_rmse_meV_A``.

The decision is recomputed from the store on a rerun, so a resumed campaign
stops at the same loop; it is stored (setting ``stopped:<run>``) for the
status and the report.
"""

from __future__ import annotations

import numpy as np

from hyperal.campaign.audit import audit_estimate
from hyperal.campaign.config import CampaignConfig
from hyperal.committee.calibration import aggregate
from hyperal.runs.context import StageContext
from hyperal.runs.query import Where
from hyperal.runs.records import Split, Stage
from hyperal.runs.stages import errors_of, predictions_on


def _no_more_gain(ctx: StageContext[CampaignConfig], loop: int) -> str:
    rule = ctx.config.stop
    if rule.improvement is None or loop < rule.patience:
        return ""
    images = ctx.store.labelled(
        split=Split.DIFFICULT, max_loop=loop, runs=ctx.data_runs
    )
    if not images:
        return ""
    before, now = (
        errors_of(
            images, predictions_on(ctx, ctx.checkpoint(k), images), loop
        ).all.force_rmse_meV_A
        for k in (loop - rule.patience, loop)
    )
    gain = 1 - now / before if before > 0 else 0.0
    if gain >= rule.improvement:
        return ""
    return (
        f"the difficult-set force RMSE fell by {gain:.1%} over the last "
        f"{rule.patience} loops ({before:.0f} -> {now:.0f} meV/Å on the "
        f"{len(images)} difficult structures written so far), less than "
        f"stop.improvement {rule.improvement:.0%}"
    )


def _force_factor(
    ctx: StageContext[CampaignConfig], loop: int
) -> tuple[float, str] | None:
    """The split-conformal factor of loop ``loop``'s committee's force σ and
    where it comes from: fitted per structure on its difficult set, else on
    its gentle set, else per atom on those sets (a small set gives a finite
    factor only per atom)."""
    for m in ctx.store.metrics(ctx.run):
        found = m.conformal("force", "force_atoms") if m.loop == loop else None
        if found is not None:
            split, c = found
            return c.factor, f"{split} set, {c.aggregate}"
    return None


def predicted_above(ctx: StageContext[CampaignConfig], loop: int) -> dict | None:
    """How many of the frames loop ``loop`` explored and selected have a
    calibrated force σ — force σ (aggregated as ``calibration.aggregate``)
    of the committee that explored them × its conformal factor, a bound only
    for structures like the calibration set, so a heuristic for selected
    frames (the most uncertain of each trajectory) — at or above
    ``stop.force_sigma_eV_A``: {"loop", "frames", "above", "target_eV_A",
    "factor", "origin"}; None without a target, frames or a factor. Stored
    every loop (setting ``predicted:<run>``) for the status and the report:
    what is left worth labelling."""
    rule = ctx.config.stop
    if rule.force_sigma_eV_A is None or loop < 1:
        return None
    rows = ctx.store.rows(Where(loop=loop, stage=Stage.SELECTED, run=ctx.run))
    frames = [row.toatoms() for row in rows if row.split == Split.TRAIN.value]
    found = _force_factor(ctx, loop - 1)
    if not frames or found is None:
        return None
    factor, origin = found
    predictions = predictions_on(ctx, ctx.checkpoint(loop - 1), frames)
    if any(p.forces_sigma is None for p in predictions):
        return None
    how = ctx.config.calibration.aggregate
    sigma = np.array([factor * aggregate(p.forces_sigma, how) for p in predictions])
    out = {
        "loop": loop,
        "frames": len(frames),
        "above": int(np.sum(~(sigma < rule.force_sigma_eV_A))),
        "target_eV_A": rule.force_sigma_eV_A,
        "factor": float(factor),
        "origin": origin,
    }
    record = ctx.store.setting(f"predicted:{ctx.run}") or {}
    record[str(loop)] = out
    ctx.store.set_setting(f"predicted:{ctx.run}", record)
    return out


def predicted(store, run: str) -> list[dict]:
    """Every loop's :func:`predicted_above` of ``run``, in loop order."""
    record = store.setting(f"predicted:{run}") or {}
    return [record[k] for k in sorted(record, key=int)]


def _nothing_uncertain(ctx: StageContext[CampaignConfig], loop: int) -> str:
    rule = ctx.config.stop
    found = predicted_above(ctx, loop)
    if found is None:
        return ""
    n = found["frames"]
    below = 1 - found["above"] / n
    if below < rule.share:
        return ""
    return (
        f"{below:.0%} of the {n} frames explored and selected in loop "
        f"{loop} have a calibrated force σ below stop.force_sigma_eV_A "
        f"{rule.force_sigma_eV_A:g} eV/Å (σ of the exploring committee × its "
        f"conformal factor {found['factor']:.3g}, fitted on its "
        f"{found['origin']}; needed: {rule.share:.0%})"
    )


def _audit_below(ctx: StageContext[CampaignConfig], loop: int) -> str:
    target = ctx.config.stop.audit_force_rmse_meV_A
    if target is None:
        return ""
    found = next((m.audit for m in ctx.store.metrics(ctx.run) if m.loop == loop), None)
    if found is None:
        return ""
    rmse, low, high, n = audit_estimate(found)
    if not high < target:
        return ""
    return (
        f"the audit estimate of loop {loop} — the exploring committee's force "
        f"RMSE on its {n} random labels, {rmse:.0f} meV/Å [{low:.0f}, "
        f"{high:.0f}] — lies below stop.audit_force_rmse_meV_A {target:g}"
    )


def stop_reason(ctx: StageContext[CampaignConfig], loop: int) -> str:
    """Why the campaign stops after ``loop`` (empty: it goes on)."""
    uncertain = _nothing_uncertain(ctx, loop)  # records what is left, always
    return _no_more_gain(ctx, loop) or uncertain or _audit_below(ctx, loop)


def stopped(store, run: str) -> dict | None:
    """The stored early stop of ``run``: {"loop", "reason"}, or None."""
    return store.setting(f"stopped:{run}") or None


def record_stop(ctx: StageContext[CampaignConfig], loop: int, reason: str) -> None:
    ctx.store.set_setting(f"stopped:{ctx.run}", {"loop": loop, "reason": reason})


def clear_stop(ctx: StageContext[CampaignConfig]) -> None:
    """A campaign that ran past its stored stop (other settings) has none."""
    if stopped(ctx.store, ctx.run) is not None:
        ctx.store.set_setting(f"stopped:{ctx.run}", {})
