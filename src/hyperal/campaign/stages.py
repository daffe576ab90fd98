"""The campaign's own stages as functions: each takes a
:class:`~hyperal.runs.context.StageContext` (settings, store, executor,
oracle, the run's name, a progress callback) and typed arguments, asks the
store what already exists — so a killed run resumes stage by stage and
repeats at most the tasks in flight — and returns a typed result. The stages
every workflow shares (labelling, fitting, errors) are
:mod:`hyperal.runs.stages`. :class:`hyperal.campaign.Campaign` sequences
them; a benchmark composes them under its own run names in one store.

Oracle labels and selected frames are written the moment each arrives; a
checkpoint exists once its fit has finished.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from hyperal.campaign.audit import audit_errors, audit_starts
from hyperal.campaign.config import CampaignConfig
from hyperal.campaign.selected import (
    EVERY_FRAME,
    batch_entries,
    ensure_grade,
    new_row,
    own_entry,
    redundancy_filter,
    task_selection,
    window_entries,
)
from hyperal.campaign.starts import initial_starts, loop_starts
from hyperal.evolve.rules import RULES
from hyperal.evolve.scores import SCORES
from hyperal.models.checkpoint import read_manifest
from hyperal.runs.context import StageContext
from hyperal.runs.progress import StageKind
from hyperal.runs.query import Row, Where
from hyperal.runs.records import (
    OracleStatus,
    Split,
    Stage,
    initial_name,
    start_name,
)
from hyperal.runs.results import FinalErrors, LoopMetrics
from hyperal.runs.seeds import task_seed
from hyperal.runs.stages import (
    count_labels,
    errors_on,
    fit,
    label_in_background,
    label_pending,
    loop_window,
    pending_rows,
    sound_checkpoint,
    stop_if_all_failed,
    wait_for_labels,
    warm_start,
)
from hyperal.runs.store import Store
from hyperal.runs.tasks import (
    evolve_and_select,
    oracle_relaxation,
)

# --- labelling ---------------------------------------------------------------------


def _initial_todo(
    ctx: StageContext[CampaignConfig], train: bool | None
) -> tuple[list, list[int]]:
    """The initial starts and the indices of those not stored yet — of the
    training split only (``train`` true), of the others (false), or all."""
    starts = initial_starts(ctx.config)
    have = {
        row.start_index
        for row in ctx.store.rows(Where(stage=Stage.INITIAL, run=ctx.run))
        if not row.get("superseded")  # set aside by an oracle change: redone
    }
    todo = [
        i
        for i, start in enumerate(starts)
        if i not in have and (train is None or (start.split == Split.TRAIN) == train)
    ]
    return starts, todo


def _relaxation_args(ctx: StageContext[CampaignConfig], start) -> tuple:
    initial = ctx.config.initial
    return (ctx.oracle, start.atoms, initial.relax_steps, initial.fmax_eV_A)


def _initial_entries(
    ctx: StageContext[CampaignConfig], i: int, start, frames, failure
) -> list:
    """The rows of start ``i``'s oracle relaxation: each ionic step a
    labelled structure of the start's split, and the structure the oracle
    failed on, if it did."""

    def row(k: int | None, split: Split) -> Row:
        name = initial_name(ctx.run, i, k)
        return new_row(
            ctx, 0, Stage.INITIAL, name, i, split=split, frame=k, source=start.source
        )

    entries = [
        (atoms, row(k, start.split), label) for k, (atoms, label) in enumerate(frames)
    ]
    if failure is not None:
        # the structure the oracle failed on (the start, or a later step)
        failed_atoms, failed_label = failure
        entries.append((failed_atoms, row(None, Split.NONE), failed_label))
    return entries


def label_initial(
    ctx: StageContext[CampaignConfig], *, train: bool | None = None
) -> int:
    """Loop 0: relax the rattled known phases with the oracle, each ionic step
    a labelled structure of the trajectory's split (only the training
    starts with ``train`` true, only the others with false). Returns the
    trajectories labelled now (those already stored are skipped)."""
    starts, todo = _initial_todo(ctx, train)
    calls = ((i, oracle_relaxation, _relaxation_args(ctx, starts[i])) for i in todo)
    for n, (i, (frames, failure)) in enumerate(
        ctx.flow.completed(ctx.label_executor, calls), 1
    ):
        entries = _initial_entries(ctx, i, starts[i], frames, failure)
        count_labels(ctx, 0, [label for *_, label in entries])
        ctx.store.add(entries)  # a trajectory's labels arrive together: one write
        ctx.report(0, StageKind.INITIAL, n, len(todo))
    return len(todo)


def _relax_and_store(ctx: StageContext[CampaignConfig], i: int, start) -> list:
    """The labelling thread's task: start ``i``'s oracle relaxation, its rows
    written at once through a store connection of the thread's own (so a
    trajectory finished while the coordinator fits is never lost to a
    kill)."""

    entries = _initial_entries(
        ctx, i, start, *oracle_relaxation(*_relaxation_args(ctx, start))
    )
    Store(ctx.store.path).add(entries)
    return entries


def _streams_test_starts(ctx: StageContext[CampaignConfig]) -> bool:
    """Whether loop 0's test-set relaxations run behind its fit."""
    return isinstance(ctx.labeller, ThreadPoolExecutor) and ctx.shared is None


def label_test_starts_in_background(ctx: StageContext[CampaignConfig]) -> list[Future]:
    """In process with a labelling thread: submit to it the oracle
    relaxations of the initial starts that are not for training (the gentle
    test set's); the loop-0 fit needs none of them, so they run behind it.
    Each trajectory is stored by the thread as it lands. Otherwise nothing:
    on a pool they run beside the training starts' before the fit, in
    parallel with them (moving them behind the fit gains wall time only
    with fewer workers than starts; not done)."""
    if not _streams_test_starts(ctx):
        return []
    starts, todo = _initial_todo(ctx, train=False)
    counter = ctx.flow.counter((ctx.run, 0, Stage.INITIAL))

    def landed(future: Future) -> None:
        entries = future.result()
        count_labels(ctx, 0, [label for *_, label in entries])
        counter.handled += 1
        ctx.report(
            0, StageKind.INITIAL, counter.handled, counter.submitted, "test sets"
        )

    futures = []
    for i in todo:
        future = ctx.labeller.submit(_relax_and_store, ctx, i, starts[i])
        counter.submitted += 1
        futures.append(ctx.flow.watch(future, landed))
    return futures


def write_starts(ctx: StageContext[CampaignConfig], loop: int) -> int:
    """Write loop ``loop``'s starts (once: nothing if they exist). Difficult
    ones wait for the oracle, the rest for evolution; a run with a shared run
    writes no difficult ones (the shared run holds them). Returns the count."""
    if ctx.store.count(Where(stage=Stage.START, loop=loop, run=ctx.run)):
        return 0
    starts = loop_starts(ctx.config, loop)
    if ctx.shared is not None:
        starts = [s if s.split != Split.DIFFICULT else None for s in starts]
    ctx.store.add(
        (
            start.atoms,
            new_row(
                ctx,
                loop,
                Stage.START,
                start_name(ctx.run, loop, j),
                j,
                source=start.source,
                split=start.split,
                status=(
                    OracleStatus.PENDING
                    if start.split == Split.DIFFICULT
                    else OracleStatus.NONE
                ),
            ),
        )
        for j, start in enumerate(starts)
        if start is not None
    )
    return sum(start is not None for start in starts)


def prefetch_difficult(ctx: StageContext[CampaignConfig], loop: int) -> list[Future]:
    """Write loop ``loop``'s starts and label its difficult ones in the
    background (with a labeller; otherwise nothing), so the oracle works
    while the coordinator fits the previous loop's committee. The labels are
    stored as they arrive; the loop's own labelling stage then finds them."""
    if ctx.labeller is None or ctx.shared is not None or loop > ctx.config.loops:
        return []
    write_starts(ctx, loop)
    return label_difficult_in_background(ctx, loop)


def label_difficult_in_background(
    ctx: StageContext[CampaignConfig], loop: int
) -> list[Future]:
    """Submit the labels of loop ``loop``'s pending difficult starts to the
    labeller; they are stored as they land."""
    rows = pending_rows(ctx, loop, Stage.START, Split.DIFFICULT)
    return [
        label_in_background(ctx, loop, row.id, row.toatoms(), Split.DIFFICULT)
        for row in rows
    ]


# --- evolution -----------------------------------------------------------------------


def evolve(ctx: StageContext[CampaignConfig], loop: int, checkpoint: Path) -> int:
    """Evolve each of the loop's non-difficult starts with the scheme on the
    committee of ``checkpoint`` and store the selected frame (pending its
    label) or why none was selected; with a labeller, each selected frame is
    labelled in the background while the next start evolves. With the
    redundancy filter on, a frame that nearly repeats a training structure or
    a frame already selected this loop is passed over for the trajectory's
    next candidate (``redundant`` counts those passed over). With
    ``selection.batch`` every evolution ends first and the loop's frames are
    chosen together (:func:`batch_entries`), stored in one transaction,
    then labelled. Returns the number evolved now."""
    cfg, store = ctx.config, ctx.store
    done = {
        row.start_index
        for row in store.rows(Where(loop=loop, stage=Stage.SELECTED, run=ctx.run))
    }
    starts = [
        row
        for row in store.rows(
            Where(loop=loop, stage=Stage.START, split=Split.NONE, run=ctx.run)
        )
        if row.start_index not in done
    ]
    by_index = {row.start_index: row for row in starts}
    if starts and SCORES[cfg.selection.score].needs_active_set:
        ensure_grade(ctx, loop, checkpoint)
    audited = audit_starts(
        cfg.seed,
        loop,
        done | set(by_index),
        cfg.selection.random_share or 0.0,
    )
    kept = redundancy_filter(ctx, loop) if starts else None
    batch = cfg.selection.batch
    window = RULES[cfg.selection.rule].loop_draw
    n_candidates = cfg.selection.candidates if (kept is not None or batch) else 1
    if window:  # every qualified frame: the loop draws in the window
        n_candidates = EVERY_FRAME
    streamed: list[Future] = []  # labels of selected frames, made meanwhile
    calls = (
        (
            row.start_index,
            evolve_and_select,
            {
                "checkpoint": str(checkpoint),
                "scheme": cfg.scheme,
                "selection": task_selection(cfg.selection, row.start_index in audited),
                "atoms": row.toatoms(),
                "seed": task_seed(cfg.seed, loop, row.start_index),
                "candidates": n_candidates,
                "spread": batch,
            },
        )
        for row in starts
    )
    outcomes = {}
    for n, (j, outcome) in enumerate(ctx.flow.completed(ctx.executor, calls), 1):
        audit = {"audit": 1} if j in audited else {}
        if (batch or window) and not audit:  # chosen together at the end
            outcomes[j] = outcome
            ctx.report(loop, StageKind.EVOLVE, n, len(starts), cfg.scheme.full_name)
            continue
        entry = own_entry(ctx, loop, by_index[j], outcome, kept, **audit)
        (row_id,) = store.add([entry])
        if ctx.labeller is not None and entry[1].split == Split.TRAIN:
            streamed.append(
                label_in_background(ctx, loop, row_id, entry[0], Split.TRAIN)
            )
        ctx.report(loop, StageKind.EVOLVE, n, len(starts), cfg.scheme.full_name)
    if outcomes:
        together = window_entries if window else batch_entries
        entries = together(ctx, loop, by_index, outcomes, kept)
        ids = store.add(entries)
        if ctx.labeller is not None:
            streamed += [
                label_in_background(ctx, loop, row_id, atoms, Split.TRAIN)
                for row_id, (atoms, row) in zip(ids, entries, strict=True)
                if row.split == Split.TRAIN
            ]
    wait_for_labels(ctx, streamed)
    return len(starts)


# --- fit and evaluation ------------------------------------------------------------


def evaluate(
    ctx: StageContext[CampaignConfig],
    loop: int,
    checkpoint: Path,
    test_sets: dict[str, list] | None = None,
) -> LoopMetrics:
    """Record loop ``loop``'s metrics: oracle and data counts, the fit report
    and the committee's errors on each test set (default: this run's gentle
    set and its difficult structures up to ``loop``, of this run and its
    shared run). Oracle calls count this run's own, not labels copied from
    identical structures."""
    store, run = ctx.store, ctx.run
    if test_sets is None:
        test_sets = {
            split.value: store.labelled(split=split, max_loop=loop, runs=ctx.data_runs)
            for split in (Split.GENTLE, Split.DIFFICULT)
        }
    ctx.report(loop, StageKind.EVALUATE, 0, 1)
    upto = Where(run=run, max_loop=loop)  # not the next loop's labels made meanwhile
    selected = store.rows(Where(loop=loop, stage=Stage.SELECTED, run=run))
    evolution: dict[str, int] = {}
    for row in selected:
        evolution[row.evolution] = evolution.get(row.evolution, 0) + 1
    sigma = [row.uncertainty for row in selected if row.get("uncertainty") is not None]
    redundant = sum(int(row.get("redundant", 0)) for row in selected)
    manifest = read_manifest(checkpoint)
    tests = {}
    for name, images in test_sets.items():
        errors = errors_on(ctx, loop, checkpoint, images)
        if errors is not None:
            tests[name] = errors
    wall_s, pools = loop_window(ctx)
    metrics = LoopMetrics(
        loop=loop,
        run=run,
        oracle_calls=store.oracle_calls(upto),
        oracle_failures=store.count(upto.replace(status=OracleStatus.FAILED)),
        n_train=len(manifest.extra.get("training_names", [])),
        n_selected=len(sigma),
        n_skipped=sum(row.oracle_status == OracleStatus.SKIPPED for row in selected),
        n_redundant=redundant,
        selected_sigma=sigma,
        evolution=evolution,
        fit=manifest.fit,
        tests=tests,
        pool_time=pools,
        wall_s=wall_s,
        audit=audit_errors(ctx, loop),
    )
    store.add_metrics(metrics)
    ctx.report(loop, StageKind.EVALUATED, 1, 1)
    return metrics


def finished(ctx: StageContext[CampaignConfig], loop: int) -> Path | None:
    """The checkpoint of ``loop`` when that loop is finished (fitted and
    evaluated), else None: what lets a rerun skip it."""
    done = any(m.loop == loop for m in ctx.store.metrics(ctx.run))
    # a damaged checkpoint makes the loop unfinished: its stages find their
    # labels stored, and the fit replaces the checkpoint
    return sound_checkpoint(ctx, loop) if done else None


def frozen_test_sets(ctx: StageContext[CampaignConfig]) -> dict[str, list]:
    """The final frozen test sets: the gentle set and the union of every
    loop's difficult set (of the shared run, when there is one)."""
    owner = [ctx.shared or ctx.run]
    return {
        split.value: ctx.store.labelled(split=split, runs=owner)
        for split in (Split.GENTLE, Split.DIFFICULT)
    }


def final_evaluation(
    ctx: StageContext[CampaignConfig], last: int, test_sets: dict[str, list]
) -> list[FinalErrors]:
    """Every checkpoint from loop 0 to ``last`` evaluated on the same
    ``test_sets`` — so each point of a learning curve is measured on the same
    structures, unlike the per-loop metrics, whose difficult set grows. Stored
    per loop; kept while the test sets' names and sizes are unchanged (a
    campaign resumed with more loops has a larger difficult set: all are
    redone)."""
    sizes = {name: len(images) for name, images in test_sets.items() if images}
    stored = {
        f.loop: f
        for f in ctx.store.final(ctx.run)
        # evaluations from before the force-magnitude bins are redone
        if f.sizes == sizes and all(t.force_bins for t in f.tests.values())
    }
    out = []
    for loop in range(last + 1):
        if loop in stored:
            out.append(stored[loop])
            continue
        ctx.report(loop, StageKind.EVALUATE, 0, 1, "final test sets")
        checkpoint = ctx.checkpoint(loop)
        tests = {
            name: errors_on(ctx, loop, checkpoint, images)
            for name, images in test_sets.items()
            if images
        }
        final = FinalErrors(loop=loop, run=ctx.run, sizes=sizes, tests=tests)
        ctx.store.add_final(final)
        out.append(final)
    return out


# --- compositions ------------------------------------------------------------------


def initial_loop(ctx: StageContext[CampaignConfig]) -> Path:
    """Loop 0: initial oracle relaxations, the first fit, its evaluation.
    With a labelling thread (in process), only the training starts are
    relaxed before the fit; the test sets' relaxations, then loop 1's
    difficult labels, run behind it (the evaluation waits for the test
    sets; loop 1 for its labels)."""
    label_initial(ctx, train=True if _streams_test_starts(ctx) else None)
    stop_if_all_failed(ctx, 0)
    behind: list[Future] = []

    def meanwhile() -> None:
        behind.extend(label_test_starts_in_background(ctx))
        prefetch_difficult(ctx, 1)  # on into loop 1, which waits for them

    checkpoint = fit(ctx, 0, meanwhile=meanwhile)
    wait_for_labels(ctx, behind)
    label_initial(ctx)  # any left (a fit found on disk submits nothing behind it)
    evaluate(ctx, 0, checkpoint)
    return checkpoint


def active_loop(ctx: StageContext[CampaignConfig], loop: int, checkpoint: Path) -> Path:
    """Loop ``loop`` >= 1 on the committee of ``checkpoint``: new starts, the
    difficult ones labelled, the rest evolved and their selected frames
    labelled, a (warm-started) refit, its evaluation."""
    write_starts(ctx, loop)
    if ctx.labeller is not None:  # they fill the gaps between the evolutions
        difficult = label_difficult_in_background(ctx, loop)
    else:
        difficult = []
        label_pending(ctx, loop, stage=Stage.START, split=Split.DIFFICULT)
    evolve(ctx, loop, checkpoint)
    label_pending(ctx, loop, stage=Stage.SELECTED, split=Split.TRAIN)
    wait_for_labels(ctx, difficult)
    stop_if_all_failed(ctx, loop)
    # the next loop's difficult labels run behind the fit, on into that loop
    # (which waits for them), never delaying this loop's end
    new = fit(
        ctx,
        loop,
        init=warm_start(ctx, loop),
        meanwhile=lambda: prefetch_difficult(ctx, loop + 1),
    )
    evaluate(ctx, loop, new)
    return new
