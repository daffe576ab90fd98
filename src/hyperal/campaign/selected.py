"""The frames a loop labels: one per trajectory (the next candidate when the
first nearly repeats a training structure or a frame chosen before it), or
the loop's labels chosen together, and the rows they are written as."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from hyperal.campaign.config import CampaignConfig
from hyperal.committee.grade import ExtrapolationGrade
from hyperal.evolve.select import RedundancyFilter, select_batch
from hyperal.evolve.window import trust_window_draw
from hyperal.runs.context import StageContext
from hyperal.runs.query import ROW_FIELDS, Row, Where
from hyperal.runs.records import (
    OracleStatus,
    Split,
    Stage,
    selected_name,
)
from hyperal.runs.stages import (
    training_set,
)
from hyperal.runs.tasks import committee

#: ``candidates`` that asks an evolution for all its qualified frames.
EVERY_FRAME = 10**9


def task_selection(selection, audit: bool) -> dict:
    """What an evolution task is told of the selection: the campaign's
    limits, rule and score — an audit start's rule is random."""
    return {**selection.limits(), **({"rule": "random"} if audit else {})}


def new_row(
    ctx: StageContext[CampaignConfig],
    loop: int,
    stage: Stage,
    name: str,
    start_index: int,
    **keys,
) -> Row:
    """A row of ``ctx.run``'s ``loop``: the :class:`~hyperal.runs.query.Row`
    fields (``split``, ``status``, ``frame``, ``reason``) from ``keys``, the
    rest describe it."""
    typed = {k: keys.pop(k) for k in ROW_FIELDS if k in keys}
    return Row(name, ctx.run, stage, loop, start_index=start_index, about=keys, **typed)


def redundancy_filter(ctx: StageContext[CampaignConfig], loop: int):
    """A :class:`~hyperal.evolve.select.RedundancyFilter` that already keeps
    the training structures before ``loop`` and the frames selected in
    ``loop`` so far (None when the campaign switches the filter off)."""
    selection = ctx.config.selection
    if not selection.redundancy_filter:
        return None

    kept = RedundancyFilter(
        ctx.config.system.elements, threshold=selection.redundancy_threshold
    )
    for atoms in training_set(ctx, loop - 1):
        kept.keep(atoms)
    for row in ctx.store.rows(
        Where(loop=loop, stage=Stage.SELECTED, split=Split.TRAIN, run=ctx.run)
    ):
        kept.keep(row.toatoms())
    return kept


def first_new(outcome, kept) -> tuple[object, float, float, int]:
    """The first of an evolution's candidates that is not redundant: its
    Atoms (None if every one is), σ_U, score and the number passed over."""
    if kept is None:
        score = outcome.candidates[0][2] if outcome.candidates else math.nan
        return outcome.atoms, outcome.sigma, score, 0
    for passed, (atoms, sigma, score) in enumerate(outcome.candidates):
        if kept.add(atoms):
            return atoms, sigma, score, passed
    return None, math.nan, math.nan, len(outcome.candidates)


def own_entry(
    ctx: StageContext[CampaignConfig], loop: int, row, outcome, kept, **extra
) -> tuple:
    """The store entry of one evolution's own frame: its first candidate
    that is not a near-copy (:func:`first_new`), or its start skipped with
    the reason."""
    atoms, sigma, score, passed = first_new(outcome, kept)
    reason = outcome.reason
    if atoms is None and outcome.atoms is not None:
        reason = (
            f"no frame selected: all {passed} candidates nearly repeat a "
            "training structure or a frame selected this loop (relative "
            "descriptor distance < "
            f"{ctx.config.selection.redundancy_threshold:g})"
        )
    return selected_entry(
        ctx,
        loop,
        row,
        outcome,
        atoms,
        name=selected_name(ctx.run, loop, row.start_index),
        sigma=sigma,
        score=score,
        reason=reason,
        redundant=passed,
        **extra,
    )


def selected_entry(
    ctx: StageContext[CampaignConfig],
    loop: int,
    row,
    outcome,
    atoms,
    *,
    name: str,
    sigma: float = math.nan,
    score: float = math.nan,
    reason: str = "",
    **extra,
) -> tuple:
    """The store entry of an evolution's selected frame (split train,
    pending its label, with σ_U and the selection score) or, with ``atoms``
    None, of its start skipped for ``reason``."""
    cfg = ctx.config
    new = new_row(
        ctx,
        loop,
        Stage.SELECTED,
        name,
        row.start_index,
        source=row.source,
        scheme=cfg.scheme.full_name,
        evolution=outcome.status,
        **extra,
        **outcome.motion,
    )
    if atoms is None:
        skipped = new.replace(
            status=OracleStatus.SKIPPED, reason=reason or outcome.reason
        )
        return row.toatoms(), skipped
    atoms.info = {}
    about = {"uncertainty": float(sigma)}
    # an audit frame was drawn at random: its score is σ_U, not the rule's
    if (
        cfg.selection.score != "energy_sigma"
        and math.isfinite(score)
        and not (extra.get("audit"))
    ):
        about["selection_score"] = float(score)
    return atoms, new.replace(split=Split.TRAIN, about=about)


def batch_entries(
    ctx: StageContext[CampaignConfig], loop: int, by_index: dict, outcomes: dict, kept
):
    """The loop's selected frames chosen together
    (:func:`~hyperal.evolve.select.select_batch`) from every evolution's
    candidates — as many as the evolutions that have a qualified frame —
    and a skipped entry for each start none of whose frames was chosen."""
    pool = [
        (j, atoms, sigma, score)
        for j in sorted(outcomes)
        for atoms, sigma, score in outcomes[j].candidates
    ]
    budget = sum(outcome.atoms is not None for outcome in outcomes.values())
    filter_ = kept if kept is not None else describer(ctx)
    covered = []
    if ctx.config.selection.batch_covers_training:
        held = describer(ctx)
        for atoms in training_set(ctx, loop - 1):
            held.keep(atoms)
        covered = held.described()
    choice = select_batch(
        [atoms for _, atoms, _, _ in pool],
        [score for *_, score in pool],
        budget,
        kept=filter_,
        covered=covered,
    )
    passed: dict[int, int] = {}
    for k in choice.passed:
        passed[pool[k][0]] = passed.get(pool[k][0], 0) + 1
    chosen: dict[int, list] = {}
    for rank, k in enumerate(choice.chosen):
        j, atoms, sigma, score = pool[k]
        chosen.setdefault(j, []).append((atoms, sigma, score, {"batch_rank": rank}))
    return chosen_entries(
        ctx,
        loop,
        by_index,
        outcomes,
        chosen,
        extra={j: {"redundant": passed.get(j, 0)} for j in outcomes},
        not_chosen=lambda j: (
            "no frame selected: the batch chose more uncertain or more diverse "
            "frames of other trajectories"
        ),
    )


#: A stream of its own for the trust window's draws.
_WINDOW_STREAM = 0x7105


def window_entries(
    ctx: StageContext[CampaignConfig], loop: int, by_index: dict, outcomes: dict, kept
) -> list[tuple]:
    """The loop's frames drawn uniformly inside the trust window
    (:func:`~hyperal.evolve.window.trust_window_draw`) from every
    evolution's qualified frames — as many as the evolutions that have one —
    and a skipped entry, with the reason, for each start that gave none."""
    selection = ctx.config.selection
    order = sorted(outcomes)
    scores = [[c[2] for c in outcomes[j].candidates] for j in order]
    low, high = selection.window.bounds([s for values in scores for s in values])
    refused = dict.fromkeys(order, 0)

    def accept(t: int, k: int) -> bool:
        if kept is None or kept.add(outcomes[order[t]].candidates[k][0]):
            return True
        refused[order[t]] += 1
        return False

    chosen, below, above = trust_window_draw(
        scores,
        low,
        high,
        budget=sum(outcomes[j].atoms is not None for j in order),
        rng=np.random.default_rng([ctx.config.seed, loop, _WINDOW_STREAM]),
        accept=accept,
    )
    picks: dict[int, list] = {}
    for t, k in chosen:
        picks.setdefault(order[t], []).append((*outcomes[order[t]].candidates[k], {}))
    window = {"window_low": float(low), "window_high": float(high)}

    def not_chosen(j: int) -> str:
        t = order.index(j)
        if below[t] + above[t] < len(scores[t]):
            return (
                "no frame selected: the loop's labels were drawn from other "
                "trajectories' trust windows"
            )
        return (
            f"no frame selected: {below[t]} of its {len(scores[t])} qualified "
            f"frames lie below the trust window [{low:.4g}, {high:.4g}] of "
            f"{selection.score} (nothing to learn) and {above[t]} above it "
            "(discarded as failed, as DP-GEN does)"
        )

    return chosen_entries(
        ctx,
        loop,
        by_index,
        outcomes,
        picks,
        extra={j: {"redundant": refused[j], **window} for j in order},
        not_chosen=not_chosen,
    )


def chosen_entries(
    ctx: StageContext[CampaignConfig],
    loop: int,
    by_index: dict,
    outcomes: dict,
    chosen: dict[int, list],
    *,
    extra: dict[int, dict],
    not_chosen,
) -> list[tuple]:
    """The store entries of frames a loop chose together: for each start
    ``j`` its ``chosen[j]`` frames — (Atoms, σ_U, score, pairs) each, the
    first named as the start's frame, the next with a suffix — or, when none
    was chosen, its start skipped with ``not_chosen(j)`` as the reason (its
    own reason when it had no qualified frame); ``extra[j]`` on each."""
    entries = []
    for j in sorted(outcomes):
        row, outcome = by_index[j], outcomes[j]
        name = selected_name(ctx.run, loop, j)
        if not chosen.get(j):
            reason = not_chosen(j) if outcome.atoms is not None else outcome.reason
            entries.append(
                selected_entry(
                    ctx, loop, row, outcome, None, name=name, reason=reason, **extra[j]
                )
            )
            continue
        for r, (atoms, sigma, score, pairs) in enumerate(chosen[j]):
            entries.append(
                selected_entry(
                    ctx,
                    loop,
                    row,
                    outcome,
                    atoms.copy(),
                    name=name if r == 0 else f"{name}-{r}",
                    sigma=sigma,
                    score=score,
                    **extra[j],
                    **pairs,
                )
            )
    return entries


def ensure_grade(ctx: StageContext[CampaignConfig], loop: int, checkpoint) -> None:
    """Save the MaxVol active set of the committee of ``checkpoint`` over
    its training data (loop − 1's) beside it, once: what the ``gamma``
    score of loop ``loop``'s evolutions reads. Written to a temporary file
    and renamed, so a kill never leaves half a grade."""
    folder = Path(checkpoint)
    if (folder / ExtrapolationGrade.FILE).exists():
        return
    grade = ExtrapolationGrade.from_training(
        committee(str(folder)), training_set(ctx, loop - 1)
    )
    scratch = folder / "grade.partial"
    scratch.mkdir(exist_ok=True)
    written = grade.save(scratch)
    os.replace(written, folder / ExtrapolationGrade.FILE)
    scratch.rmdir()


def describer(ctx: StageContext[CampaignConfig]):
    """A filter that refuses nothing (threshold 0), there only to describe
    structures for a batch selection with the redundancy filter off."""

    return RedundancyFilter(ctx.config.system.elements, threshold=0.0)
