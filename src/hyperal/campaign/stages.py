"""The campaign's stages as functions: each takes a :class:`StageContext`
(settings, store, executor, oracle, the run's name, a progress callback) and
typed arguments, asks the store what already exists — so a killed run resumes
stage by stage and repeats at most the tasks in flight — and returns a typed
result. :class:`hyperal.campaign.Campaign` sequences them; a benchmark or the
barrier workflow composes them under their own run names in one store.

Oracle labels and selected frames are written the moment each arrives; a
checkpoint exists once its fit has finished.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from hyperal.campaign.config import CalibrationConfig, CampaignConfig
from hyperal.campaign.evaluate import Labelled, summarise
from hyperal.campaign.executors import completed
from hyperal.campaign.fingerprint import differences
from hyperal.campaign.progress import Progress, StageKind
from hyperal.campaign.records import (
    MAIN_RUN,
    OracleStatus,
    Split,
    Stage,
    initial_name,
    selected_name,
    start_name,
    validate_run,
)
from hyperal.campaign.results import FinalErrors, LoopMetrics, SplitErrors
from hyperal.campaign.starts import initial_starts, loop_starts, task_seed
from hyperal.campaign.store import Store
from hyperal.campaign.tasks import (
    evolve_and_select,
    fit_committee,
    label_and_record,
    oracle_relaxation,
    predict,
)
from hyperal.labels import reference
from hyperal.models.checkpoint import MANIFEST, damage, read_manifest
from hyperal.oracle import Oracle, label_structure

#: Structures per evaluation task.
EVALUATION_CHUNK = 32


class CampaignError(RuntimeError):
    """A campaign that cannot go on for a reason in its data (one line)."""


def _ignore(report: Progress) -> None:
    pass


@dataclass(frozen=True)
class StageContext:
    """What every stage works with. ``run`` names this run's rows and
    checkpoints, so several runs can share one store."""

    config: CampaignConfig
    store: Store
    executor: Executor
    oracle: Oracle
    run: str = MAIN_RUN
    progress: Callable[[Progress], None] = _ignore
    #: A thread pool of the coordinator for oracle calls that overlap its own
    #: work (evolutions, fits) when tasks run in process; each label is
    #: written by the thread that made it (:func:`tasks.label_and_record`).
    labeller: Executor | None = None
    #: The run that holds this run's initial data, loop-0 committee and
    #: difficult test sets (a benchmark's schemes share one); None: its own.
    shared: str | None = None
    #: Oracle calls made by this process per (run, loop): [calls, ok, first
    #: failure reason] (:func:`stop_if_all_failed`).
    tally: dict = field(default_factory=dict)

    def __post_init__(self):
        validate_run(self.run)
        if self.shared is not None:
            validate_run(self.shared)

    def with_run(self, run: str, shared: str | None = None) -> StageContext:
        return replace(self, run=run, shared=shared)

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
        return self.store.count(oracle_status=OracleStatus.FAILED.value, run=self.run)

    def report(self, loop: int, kind: StageKind, done: int, total: int, message=""):
        self.progress(
            Progress(loop, kind, done, total, self.failures(), message, self.run)
        )


def _pairs(ctx: StageContext, loop: int, stage: Stage, **pairs) -> dict:
    return {"run": ctx.run, "loop": loop, "stage": stage.value, **pairs}


# --- labelling ---------------------------------------------------------------------


def _count(ctx: StageContext, loop: int, labels) -> None:
    calls = ctx.tally.setdefault((ctx.run, loop), [0, 0, ""])
    for label in labels:
        calls[0] += 1
        if label.ok:
            calls[1] += 1
        elif not calls[2]:
            calls[2] = label.reason


def stop_if_all_failed(ctx: StageContext, loop: int) -> None:
    """End the run with one line when every oracle call this process made in
    ``loop`` failed: an oracle that fails every call (a wrong command, an
    expired licence) would otherwise be paid for loop after loop. The
    failures stay in the store; a rerun goes on from them."""
    calls, ok, reason = ctx.tally.get((ctx.run, loop), (0, 0, ""))
    if calls and not ok:
        raise CampaignError(
            f"loop {loop}: all {calls} oracle calls failed; first reason: "
            f"{' '.join(reason.split())[:300]}"
        )


def label_initial(ctx: StageContext) -> int:
    """Loop 0: relax the rattled known phases with the oracle, each ionic step
    a labelled structure of the trajectory's split. Returns the trajectories
    labelled now (those already stored are skipped)."""
    starts = initial_starts(ctx.config)
    have = {
        row.start_index
        for row in ctx.store.rows(stage=Stage.INITIAL.value, run=ctx.run)
        if not row.get("superseded")  # set aside by an oracle change: redone
    }
    todo = [i for i in range(len(starts)) if i not in have]
    initial = ctx.config.initial
    calls = (
        (
            i,
            oracle_relaxation,
            (ctx.oracle, starts[i].atoms, initial.relax_steps, initial.fmax_eV_A),
        )
        for i in todo
    )
    for n, (i, (frames, failure)) in enumerate(completed(ctx.executor, calls), 1):
        start = starts[i]
        common = {"source": start.source, "start_index": i}
        entries = [
            (
                atoms,
                _pairs(
                    ctx,
                    0,
                    Stage.INITIAL,
                    name=initial_name(ctx.run, i, k),
                    split=start.split.value,
                    frame=k,
                    **common,
                ),
                label,
            )
            for k, (atoms, label) in enumerate(frames)
        ]
        if failure is not None:
            # the structure the oracle failed on (the start, or a later step)
            failed_atoms, failed_label = failure
            entries.append(
                (
                    failed_atoms,
                    _pairs(
                        ctx,
                        0,
                        Stage.INITIAL,
                        name=initial_name(ctx.run, i, None),
                        split=Split.NONE.value,
                        **common,
                    ),
                    failed_label,
                )
            )
        _count(ctx, 0, [label for *_, label in entries])
        ctx.store.add(entries)  # a trajectory's labels arrive together: one write
        ctx.report(0, StageKind.INITIAL, n, len(todo))
    return len(todo)


def write_starts(ctx: StageContext, loop: int) -> int:
    """Write loop ``loop``'s starts (once: nothing if they exist). Difficult
    ones wait for the oracle, the rest for evolution; a run with a shared run
    writes no difficult ones (the shared run holds them). Returns the count."""
    if ctx.store.count(stage=Stage.START.value, loop=loop, run=ctx.run):
        return 0
    starts = loop_starts(ctx.config, loop)
    if ctx.shared is not None:
        starts = [s if s.split != Split.DIFFICULT else None for s in starts]
    ctx.store.add(
        (
            start.atoms,
            _pairs(
                ctx,
                loop,
                Stage.START,
                name=start_name(ctx.run, loop, j),
                source=start.source,
                split=start.split.value,
                start_index=j,
                oracle_status=(
                    OracleStatus.PENDING
                    if start.split == Split.DIFFICULT
                    else OracleStatus.NONE
                ).value,
            ),
        )
        for j, start in enumerate(starts)
        if start is not None
    )
    return sum(start is not None for start in starts)


def _pending(ctx: StageContext, loop: int, stage: Stage, split: Split) -> list:
    return ctx.store.rows(
        loop=loop,
        stage=stage.value,
        split=split.value,
        oracle_status=OracleStatus.PENDING.value,
        run=ctx.run,
    )


def label_pending(ctx: StageContext, loop: int, *, stage: Stage, split: Split) -> int:
    """Label every pending row of ``stage`` and ``split`` in ``loop``, each
    written as it arrives. Returns the number labelled."""
    # a structure whose label is stored already (a shared one) is not paid again
    rows = [
        row
        for row in _pending(ctx, loop, stage, split)
        if not ctx.store.reuse_label(row.id)
    ]
    calls = ((row.id, label_structure, (ctx.oracle, row.toatoms())) for row in rows)
    for n, (row_id, label) in enumerate(completed(ctx.executor, calls), start=1):
        ctx.store.record_label(row_id, label)
        _count(ctx, loop, [label])
        ctx.report(loop, StageKind.LABEL, n, len(rows), split.value)
    return len(rows)


def _label_in_background(ctx: StageContext, row_id: int, atoms) -> Future:
    if ctx.store.reuse_label(row_id):  # no oracle call: a finished future
        done: Future = Future()
        done.set_result(None)
        return done
    return ctx.labeller.submit(
        label_and_record, ctx.store.path, row_id, ctx.oracle, atoms
    )


def _wait(ctx: StageContext, loop: int, futures: Sequence[Future], split: Split):
    """Wait for background labels (each already stored), reporting them as
    they finish; re-raise a labelling error."""
    for n, future in enumerate(as_completed(futures), start=1):
        future.result()
        ctx.report(loop, StageKind.LABEL, n, len(futures), split.value)


def prefetch_difficult(ctx: StageContext, loop: int) -> list[Future]:
    """Write loop ``loop``'s starts and label its difficult ones in the
    background (with a labeller; otherwise nothing), so the oracle works
    while the coordinator fits the previous loop's committee. The labels are
    stored as they arrive; the loop's own labelling stage then finds them."""
    if ctx.labeller is None or ctx.shared is not None or loop > ctx.config.loops:
        return []
    write_starts(ctx, loop)
    rows = _pending(ctx, loop, Stage.START, Split.DIFFICULT)
    return [_label_in_background(ctx, row.id, row.toatoms()) for row in rows]


# --- evolution -----------------------------------------------------------------------


def _redundancy_filter(ctx: StageContext, loop: int):
    """A :class:`~hyperal.evolve.select.RedundancyFilter` that already keeps
    the training structures before ``loop`` and the frames selected in
    ``loop`` so far (None when the campaign switches the filter off)."""
    selection = ctx.config.selection
    if not selection.redundancy_filter:
        return None
    from hyperal.evolve.select import RedundancyFilter

    kept = RedundancyFilter(
        ctx.config.system.elements, threshold=selection.redundancy_threshold
    )
    for atoms in training_set(ctx, loop - 1):
        kept.keep(atoms)
    for row in ctx.store.rows(
        loop=loop, stage=Stage.SELECTED.value, split=Split.TRAIN.value, run=ctx.run
    ):
        kept.keep(row.toatoms())
    return kept


def _first_new(outcome, kept) -> tuple[object, float, float, int]:
    """The first of an evolution's candidates that is not redundant: its
    Atoms (None if every one is), σ_U, score and the number passed over."""
    if kept is None:
        score = outcome.candidates[0][2] if outcome.candidates else math.nan
        return outcome.atoms, outcome.sigma, score, 0
    for passed, (atoms, sigma, score) in enumerate(outcome.candidates):
        if kept.add(atoms):
            return atoms, sigma, score, passed
    return None, math.nan, math.nan, len(outcome.candidates)


def _selected_entry(
    ctx: StageContext,
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
    pairs = _pairs(
        ctx,
        loop,
        Stage.SELECTED,
        name=name,
        source=row.source,
        scheme=cfg.scheme.name,
        evolution=outcome.status,
        start_index=row.start_index,
        **extra,
        **outcome.motion,
    )
    if atoms is None:
        return (
            row.toatoms(),
            {
                **pairs,
                "split": Split.NONE.value,
                "oracle_status": OracleStatus.SKIPPED.value,
                "oracle_reason": (reason or outcome.reason)[:500],
            },
        )
    atoms.info = {}
    pairs.update(split=Split.TRAIN.value, uncertainty=float(sigma))
    if cfg.selection.score != "energy_sigma" and math.isfinite(score):
        pairs["selection_score"] = float(score)
    return atoms, pairs


def _batch_entries(ctx: StageContext, loop: int, by_index: dict, outcomes: dict, kept):
    """The loop's selected frames chosen together
    (:func:`~hyperal.evolve.select.select_batch`) from every evolution's
    candidates — as many as the evolutions that have a qualified frame —
    and a skipped entry for each start none of whose frames was chosen."""
    from hyperal.evolve.select import select_batch

    pool = [
        (j, atoms, sigma, score)
        for j in sorted(outcomes)
        for atoms, sigma, score in outcomes[j].candidates
    ]
    budget = sum(outcome.atoms is not None for outcome in outcomes.values())
    choice = select_batch(
        [atoms for _, atoms, _, _ in pool],
        [score for *_, score in pool],
        budget,
        kept=kept if kept is not None else _describer(ctx),
    )
    chosen: dict[int, list[int]] = {}
    for k in choice.chosen:
        chosen.setdefault(pool[k][0], []).append(k)
    passed: dict[int, int] = {}
    for k in choice.passed:
        passed[pool[k][0]] = passed.get(pool[k][0], 0) + 1
    entries = []
    for j in sorted(outcomes):
        row, outcome = by_index[j], outcomes[j]
        name = selected_name(ctx.run, loop, j)
        extra = {"redundant": passed.get(j, 0)}
        if j not in chosen:
            reason = outcome.reason
            if outcome.atoms is not None:
                reason = (
                    "no frame selected: the batch chose more uncertain or more "
                    "diverse frames of other trajectories"
                )
            entries.append(
                _selected_entry(
                    ctx, loop, row, outcome, None, name=name, reason=reason, **extra
                )
            )
            continue
        for r, k in enumerate(chosen[j]):
            _, atoms, sigma, score = pool[k]
            entries.append(
                _selected_entry(
                    ctx,
                    loop,
                    row,
                    outcome,
                    atoms.copy(),
                    name=name if r == 0 else f"{name}-{r}",
                    sigma=sigma,
                    score=score,
                    batch_rank=choice.chosen.index(k),
                    **extra,
                )
            )
    return entries


def _describer(ctx: StageContext):
    """A filter that refuses nothing (threshold 0), there only to describe
    structures for a batch selection with the redundancy filter off."""
    from hyperal.evolve.select import RedundancyFilter

    return RedundancyFilter(ctx.config.system.elements, threshold=0.0)


def evolve(ctx: StageContext, loop: int, checkpoint: Path) -> int:
    """Evolve each of the loop's non-difficult starts with the scheme on the
    committee of ``checkpoint`` and store the selected frame (pending its
    label) or why none was selected; with a labeller, each selected frame is
    labelled in the background while the next start evolves. With the
    redundancy filter on, a frame that nearly repeats a training structure or
    a frame already selected this loop is passed over for the trajectory's
    next candidate (``redundant`` counts those passed over). With
    ``selection.batch`` every evolution ends first and the loop's frames are
    chosen together (:func:`_batch_entries`), stored in one transaction,
    then labelled. Returns the number evolved now."""
    cfg, store = ctx.config, ctx.store
    done = {
        row.start_index
        for row in store.rows(loop=loop, stage=Stage.SELECTED.value, run=ctx.run)
    }
    starts = [
        row
        for row in store.rows(
            loop=loop, stage=Stage.START.value, split=Split.NONE.value, run=ctx.run
        )
        if row.start_index not in done
    ]
    by_index = {row.start_index: row for row in starts}
    kept = _redundancy_filter(ctx, loop) if starts else None
    batch = cfg.selection.batch
    n_candidates = cfg.selection.candidates if (kept is not None or batch) else 1
    streamed: list[Future] = []  # labels of selected frames, made meanwhile
    calls = (
        (
            row.start_index,
            evolve_and_select,
            (
                str(checkpoint),
                cfg.scheme.name,
                dict(cfg.scheme.params),
                cfg.scheme.steps,
                cfg.selection.limits(),
                row.toatoms(),
                task_seed(cfg.seed, loop, row.start_index),
                n_candidates,
                batch,
            ),
        )
        for row in starts
    )
    outcomes = {}
    for n, (j, outcome) in enumerate(completed(ctx.executor, calls), start=1):
        if batch:  # chosen together once every evolution has ended
            outcomes[j] = outcome
            ctx.report(loop, StageKind.EVOLVE, n, len(starts), cfg.scheme.name)
            continue
        atoms, sigma, score, passed = _first_new(outcome, kept)
        reason = outcome.reason
        if atoms is None and outcome.atoms is not None:
            reason = (
                f"no frame selected: all {passed} candidates nearly repeat a "
                "training structure or a frame selected this loop (relative "
                f"descriptor distance < {cfg.selection.redundancy_threshold:g})"
            )
        entry = _selected_entry(
            ctx,
            loop,
            by_index[j],
            outcome,
            atoms,
            name=selected_name(ctx.run, loop, j),
            sigma=sigma,
            score=score,
            reason=reason,
            redundant=passed,
        )
        (row_id,) = store.add([entry])
        if ctx.labeller is not None and atoms is not None:
            streamed.append(_label_in_background(ctx, row_id, entry[0]))
        ctx.report(loop, StageKind.EVOLVE, n, len(starts), cfg.scheme.name)
    if outcomes:
        entries = _batch_entries(ctx, loop, by_index, outcomes, kept)
        ids = store.add(entries)
        if ctx.labeller is not None:
            streamed += [
                _label_in_background(ctx, row_id, atoms)
                for row_id, (atoms, pairs) in zip(ids, entries, strict=True)
                if pairs["split"] == Split.TRAIN.value
            ]
    _wait(ctx, loop, streamed, Split.TRAIN)
    return len(starts)


# --- fit and evaluation ------------------------------------------------------------


def training_set(ctx: StageContext, loop: int, runs: Sequence[str] | None = None):
    """The labelled training structures up to ``loop`` of ``runs`` (default:
    this run and its shared run), in the order of their origin."""
    return ctx.store.labelled(
        split=Split.TRAIN, max_loop=loop, runs=list(runs or ctx.data_runs)
    )


def fit(
    ctx: StageContext,
    loop: int,
    *,
    init: Path | None = None,
    runs: Sequence[str] | None = None,
) -> Path:
    """Fit the committee on the training data up to ``loop`` (of ``runs``,
    default this run) as a task through the executor — warm-started from the
    checkpoint ``init`` when given — and return its checkpoint directory. An
    existing checkpoint is returned as it is."""
    path = ctx.checkpoint(loop)
    if path.exists():
        problem = damage(path)
        if not problem:
            _same_committee(ctx, path)
            return path
        # a damaged checkpoint (a disk that filled, a file edited) is kept
        # aside, never used, and refitted from the labels in the store
        aside = path.with_name(path.name + ".damaged")
        if aside.exists():
            shutil.rmtree(aside)
        path.rename(aside)
        ctx.report(loop, StageKind.FIT, 0, 1, f"refitting: {problem}")
    train = training_set(ctx, loop, runs)
    if not train:
        reasons = ctx.store.failure_reasons(ctx.run)
        why = (
            f": all {sum(n for _, n in reasons)} oracle calls failed; first "
            f"reason: {reasons[0][0]}"
            if reasons
            else ""
        )
        raise CampaignError(
            f"loop {loop}: no labelled training structure to fit{why} "
            "(`hyperal status` lists the failures)"
        )
    return fit_on(ctx, loop, train, init=init)


def fit_on(
    ctx: StageContext, loop: int, frames: Sequence, *, init: Path | None = None
) -> Path:
    """Fit the committee of ``loop`` on ``frames`` as a task through the
    executor (seed: campaign seed + loop; warm-started from ``init`` when
    given), writing its checkpoint; a poisoned fit is one line."""
    path = ctx.checkpoint(loop)
    names = [a.info["name"] for a in frames]
    ctx.report(loop, StageKind.FIT, 0, 1, f"on {len(frames)} structures")
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = ctx.config
    call = (
        loop,
        fit_committee,
        (
            cfg.committee,
            tuple(cfg.system.elements),
            cfg.seed + loop,
            frames,
            str(path),
            None if init is None else str(init),
            names,
        ),
    )
    try:
        for _ in completed(ctx.executor, [call]):
            pass
    except ValueError as exc:  # a poisoned fit: one line, nothing saved
        where = f"loop {loop}" if ctx.run == MAIN_RUN else f"{ctx.run} loop {loop}"
        raise CampaignError(f"{where}: the fit failed: {exc}") from exc
    ctx.report(loop, StageKind.FITTED, 1, 1)
    return path


def _same_committee(ctx: StageContext, checkpoint: Path) -> None:
    """Refuse a stored checkpoint fitted with other committee options than the
    campaign's (a changed config must not mix two committees silently)."""
    manifest = read_manifest(checkpoint)
    elements = list(ctx.config.system.elements)
    if list(manifest.elements) != elements:
        raise CampaignError(
            f"{checkpoint} was fitted for the elements "
            f"{', '.join(manifest.elements)}, not the campaign's "
            f"{', '.join(elements)}; use a new store"
        )
    wanted = ctx.config.committee.model_dump(mode="json")
    differ = differences(manifest.options, wanted)
    if differ:
        raise CampaignError(
            f"{checkpoint} was fitted with other committee options than the "
            f"campaign file's ({', '.join('committee.' + k for k in differ)}); "
            "use a new store, or restore those settings"
        )


def warm_start(ctx: StageContext, loop: int) -> Path | None:
    """The checkpoint a fit of ``loop`` continues from: the previous loop's,
    when the committee options ask for warm starts and it exists."""
    if loop == 0 or not ctx.config.committee.warm_start:
        return None
    previous = ctx.checkpoint(loop - 1)
    return previous if (previous / MANIFEST).is_file() else None


def predictions_on(ctx: StageContext, checkpoint: Path, images) -> list:
    """The committee of ``checkpoint``'s predictions of ``images``, in order,
    by executor tasks of :data:`EVALUATION_CHUNK` structures."""
    chunks = [
        images[k : k + EVALUATION_CHUNK]
        for k in range(0, len(images), EVALUATION_CHUNK)
    ]
    calls = ((k, predict, (str(checkpoint), chunk)) for k, chunk in enumerate(chunks))
    parts = dict(completed(ctx.executor, calls))
    return [p for k in range(len(chunks)) for p in parts[k]]


def errors_of(
    images, predictions, loop: int, calibration: CalibrationConfig | None = None
) -> SplitErrors:
    """:class:`~hyperal.campaign.results.SplitErrors` of ``predictions``
    against the labels of ``images`` (the same order); σ checked as
    ``calibration`` says (default settings when None)."""
    calibration = calibration or CalibrationConfig()
    refs = []
    for atoms in images:
        ref = reference(atoms)
        refs.append(
            Labelled(ref.energy, ref.forces, atoms.info.get("source", "unknown"))
        )
    return summarise(
        refs,
        predictions,
        seed=loop,
        aggregate=calibration.aggregate,
        alpha=calibration.alpha,
    )


def errors_on(
    ctx: StageContext, loop: int, checkpoint: Path, images
) -> SplitErrors | None:
    """:class:`~hyperal.campaign.results.SplitErrors` of the committee of
    ``checkpoint`` on labelled ``images`` (None for no images)."""
    if not images:
        return None
    return errors_of(
        images,
        predictions_on(ctx, checkpoint, images),
        loop,
        ctx.config.calibration,
    )


def evaluate(
    ctx: StageContext,
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
    upto = f"loop<={int(loop)}"  # not the next loop's labels made meanwhile
    selected = store.rows(loop=loop, stage=Stage.SELECTED.value, run=run)
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
    metrics = LoopMetrics(
        loop=loop,
        run=run,
        oracle_calls=store.oracle_calls(upto, run=run),
        oracle_failures=store.count(
            upto, oracle_status=OracleStatus.FAILED.value, run=run
        ),
        n_train=len(manifest.extra.get("training_names", [])),
        n_selected=len(sigma),
        n_skipped=sum(row.oracle_status == OracleStatus.SKIPPED for row in selected),
        n_redundant=redundant,
        selected_sigma=sigma,
        evolution=evolution,
        fit=manifest.fit,
        tests=tests,
    )
    store.add_metrics(metrics)
    ctx.report(loop, StageKind.EVALUATED, 1, 1)
    return metrics


def finished(ctx: StageContext, loop: int) -> Path | None:
    """The checkpoint of ``loop`` when that loop is finished (fitted and
    evaluated), else None: what lets a rerun skip it."""
    path = ctx.checkpoint(loop)
    done = any(m.loop == loop for m in ctx.store.metrics(ctx.run))
    # a damaged checkpoint makes the loop unfinished: its stages find their
    # labels stored, and the fit replaces the checkpoint
    return path if done and not damage(path) else None


def frozen_test_sets(ctx: StageContext) -> dict[str, list]:
    """The final frozen test sets: the gentle set and the union of every
    loop's difficult set (of the shared run, when there is one)."""
    owner = [ctx.shared or ctx.run]
    return {
        split.value: ctx.store.labelled(split=split, runs=owner)
        for split in (Split.GENTLE, Split.DIFFICULT)
    }


def final_evaluation(
    ctx: StageContext, last: int, test_sets: dict[str, list]
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


def initial_loop(ctx: StageContext) -> Path:
    """Loop 0: initial oracle relaxations, the first fit (with loop 1's
    difficult starts labelled meanwhile, given a labeller), its evaluation."""
    label_initial(ctx)
    stop_if_all_failed(ctx, 0)
    meanwhile = prefetch_difficult(ctx, 1)
    checkpoint = fit(ctx, 0)
    _wait(ctx, 1, meanwhile, Split.DIFFICULT)
    evaluate(ctx, 0, checkpoint)
    return checkpoint


def active_loop(ctx: StageContext, loop: int, checkpoint: Path) -> Path:
    """Loop ``loop`` >= 1 on the committee of ``checkpoint``: new starts, the
    difficult ones labelled, the rest evolved and their selected frames
    labelled, a (warm-started) refit, its evaluation."""
    write_starts(ctx, loop)
    label_pending(ctx, loop, stage=Stage.START, split=Split.DIFFICULT)
    evolve(ctx, loop, checkpoint)
    label_pending(ctx, loop, stage=Stage.SELECTED, split=Split.TRAIN)
    stop_if_all_failed(ctx, loop)
    meanwhile = prefetch_difficult(ctx, loop + 1)
    new = fit(ctx, loop, init=warm_start(ctx, loop))
    _wait(ctx, loop + 1, meanwhile, Split.DIFFICULT)
    evaluate(ctx, loop, new)
    return new
