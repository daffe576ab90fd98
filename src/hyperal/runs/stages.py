"""Stages every workflow shares, as functions of a
:class:`~hyperal.runs.context.StageContext`: labelling pending rows (each
label written as it arrives), fitting the committee through the executor
(warm-started, a damaged checkpoint refitted, a committee fitted with other
options refused) and the committee's predictions and errors on labelled
structures. Each asks the store what already exists, so a killed run
resumes and repeats at most the tasks in flight.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from hyperal.labels import reference
from hyperal.models.checkpoint import MANIFEST, damage, read_manifest
from hyperal.models.progress import EpochProgress, epoch_file, listening, read_epoch
from hyperal.oracle import label_structure
from hyperal.runs.context import RunError, StageContext, Tally
from hyperal.runs.evaluate import Labelled, summarise
from hyperal.runs.executors import EXECUTORS, TimedExecutor, busy_seconds
from hyperal.runs.fingerprint import differences
from hyperal.runs.progress import StageKind
from hyperal.runs.query import Where
from hyperal.runs.records import MAIN_RUN, OracleStatus, Split, Stage
from hyperal.runs.results import PoolTime, SplitErrors
from hyperal.runs.sections import CalibrationConfig
from hyperal.runs.tasks import fit_committee, label_and_record, predict

#: Structures per evaluation task.
EVALUATION_CHUNK = 32


def count_labels(ctx: StageContext, loop: int, labels) -> None:
    """Count ``labels`` in this process's :class:`Tally` of ``loop``."""
    tally = ctx.tally.setdefault((ctx.run, loop), Tally())
    for label in labels:
        tally.calls += 1
        if label.ok:
            tally.ok += 1
        elif not tally.first_failure:
            tally.first_failure = label.reason


def stop_if_all_failed(ctx: StageContext, loop: int) -> None:
    """End the run with one line when every oracle call this process made in
    ``loop`` failed: an oracle that fails every call (a wrong command, an
    expired licence) would otherwise be paid for loop after loop. The
    failures stay in the store; a rerun goes on from them."""
    tally = ctx.tally.get((ctx.run, loop), Tally())
    if tally.calls and not tally.ok:
        raise RunError(
            f"loop {loop}: all {tally.calls} oracle calls failed; first reason: "
            f"{' '.join(tally.first_failure.split())[:300]}"
        )


def pending_rows(ctx: StageContext, loop: int, stage: Stage, split: Split) -> list:
    return ctx.store.rows(
        Where(
            loop=loop,
            stage=stage,
            split=split,
            status=OracleStatus.PENDING,
            run=ctx.run,
        )
    )


def label_pending(ctx: StageContext, loop: int, *, stage: Stage, split: Split) -> int:
    """Label every pending row of ``stage`` and ``split`` in ``loop``, each
    written as it arrives; a row whose label is in flight already (submitted
    in the background) is waited for, not submitted again. Returns the
    number labelled here."""
    pending = pending_rows(ctx, loop, stage, split)
    in_flight = ctx.flow.labels_in_flight
    waiting = [in_flight[row.id] for row in pending if row.id in in_flight]
    # a structure whose label is stored already (a shared one) is not paid again
    rows = [
        row
        for row in pending
        if row.id not in in_flight and not ctx.store.reuse_label(row.id)
    ]
    calls = ((row.id, label_structure, (ctx.oracle, row.toatoms())) for row in rows)
    for n, (row_id, label) in enumerate(
        ctx.flow.completed(ctx.label_executor, calls), start=1
    ):
        ctx.store.record_label(row_id, label)
        count_labels(ctx, loop, [label])
        ctx.report(loop, StageKind.LABEL, n, len(rows), split.value)
    ctx.flow.wait(waiting)
    return len(rows)


def label_in_background(
    ctx: StageContext, loop: int, row_id: int, atoms, split: Split
) -> Future:
    """Submit the label of the stored row ``row_id`` to ``ctx.labeller`` and
    return its future (the one in flight, when it was submitted already);
    the label is written the moment it lands — by the
    labelling thread itself when it is one of this process (so a label
    finished while the coordinator fits is never lost to a kill), else by
    the coordinator (:class:`~hyperal.runs.flow.Flow`) — then counted and
    reported. A row whose label is stored already costs no call."""
    in_flight = ctx.flow.labels_in_flight
    if row_id in in_flight:  # submitted already (the next loop's, behind a fit)
        return in_flight[row_id]
    if ctx.store.reuse_label(row_id):  # no oracle call: a finished future
        done: Future = Future()
        done.set_result(None)
        return done
    writes_itself = isinstance(ctx.labeller, ThreadPoolExecutor)
    if writes_itself:
        future = ctx.labeller.submit(
            label_and_record, ctx.store.path, row_id, ctx.oracle, atoms
        )
    else:
        future = ctx.labeller.submit(label_structure, ctx.oracle, atoms)
    counter = ctx.flow.counter((ctx.run, loop, split))
    counter.submitted += 1

    def landed(future: Future) -> None:
        in_flight.pop(row_id, None)
        label = future.result()
        if not writes_itself:
            ctx.store.record_label(row_id, label)
        count_labels(ctx, loop, [label])
        counter.handled += 1
        ctx.report(
            loop, StageKind.LABEL, counter.handled, counter.submitted, split.value
        )

    in_flight[row_id] = future
    return ctx.flow.watch(future, landed)


def wait_for_labels(ctx: StageContext, futures: Sequence[Future]) -> None:
    """Wait until every background label of ``futures`` is stored (other
    work landing meanwhile is handled too); re-raise a labelling error."""
    ctx.flow.wait(futures)


def loop_window(ctx: StageContext) -> tuple[float, PoolTime | None]:
    """The wall time since the previous call (the previous loop's end, or
    the run's start in this process) — for a loop's metrics, called at the
    loop's end — and how the pools' workers spent it (None in process: no
    pool); starts the next window."""
    start, end = ctx.flow.since, time.time()
    ctx.flow.since = end
    return end - start, pool_time(ctx, start, end)


def pool_time(ctx: StageContext, start: float, end: float) -> PoolTime | None:
    """How the pools' workers spent the wall-clock window ``start``–``end``
    (seconds since the epoch); None in process (no pool)."""
    pools = {
        id(p): p for p in (ctx.executor, ctx.labels) if isinstance(p, TimedExecutor)
    }
    if not pools:
        return None
    spans = [span for pool in pools.values() for span in pool.spans]
    busy = busy_seconds(spans, start, end)
    workers = {span.worker for span in spans if span.end > start and span.start < end}
    executor = ctx.config.executor
    size = EXECUTORS[executor.kind].size(executor)
    if size is not None:
        count, counted = size, "configured"
    else:
        count, counted = len(workers), "seen"
    return PoolTime(
        workers=max(count, 1), counted=counted, window_s=end - start, busy_s=busy
    )


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
    meanwhile: Callable[[], object] | None = None,
) -> Path:
    """Fit the committee on the training data up to ``loop`` (of ``runs``,
    default this run) as a task through the executor — warm-started from the
    checkpoint ``init`` when given — and return its checkpoint directory. An
    existing checkpoint is returned as it is. ``meanwhile()`` is called
    once the fit is submitted (work that overlaps it, queued behind it)."""
    path = ctx.checkpoint(loop)
    if path.exists():
        problem = damage(path)
        if not problem:
            check_committee(ctx, path)
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
        raise RunError(
            f"loop {loop}: no labelled training structure to fit{why} "
            "(`hyperal status` lists the failures)"
        )
    return fit_on(ctx, loop, train, init=init, meanwhile=meanwhile)


def fit_on(
    ctx: StageContext,
    loop: int,
    frames: Sequence,
    *,
    init: Path | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> Path:
    """Fit the committee of ``loop`` on ``frames`` as a task through the
    executor (seed: campaign seed + loop; warm-started from ``init`` when
    given), writing its checkpoint; a poisoned fit is one line."""
    path = ctx.checkpoint(loop)
    names = [a.info["name"] for a in frames]
    about = f"on {len(frames)} structures"
    ctx.report(loop, StageKind.FIT, 0, 1, about)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = ctx.config
    call = (
        loop,
        fit_committee,
        {
            "options": cfg.committee,
            "elements": tuple(cfg.system.elements),
            "seed": cfg.seed + loop,
            "frames": frames,
            "out": str(path),
            "init": None if init is None else str(init),
            "names": names,
        },
    )
    epochs = EpochReports(ctx, loop, about, epoch_file(path))
    try:
        # epochs reach the progress directly from a fit in this thread, and
        # from the fit's epoch file while a pool worker fits
        with listening(epochs):
            for _ in ctx.flow.completed(
                ctx.executor, [call], then=meanwhile, tick=epochs.from_file
            ):
                pass
        epochs.from_file()  # the fit's last epoch, however fast it landed
    except ValueError as exc:  # a poisoned fit: one line, nothing saved
        where = f"loop {loop}" if ctx.run == MAIN_RUN else f"{ctx.run} loop {loop}"
        raise RunError(f"{where}: the fit failed: {exc}") from exc
    finally:
        epochs.file.unlink(missing_ok=True)
    ctx.report(loop, StageKind.FITTED, 1, 1)
    return path


class EpochReports:
    """A fit's epochs as progress reports of its stage (``epoch/epochs``, the
    validation loss as the detail), at most one every ``every_s`` seconds
    and never the same epoch twice."""

    def __init__(
        self, ctx: StageContext, loop: int, about: str, file: Path, every_s=2.0
    ):
        self.ctx, self.loop, self.about, self.file = ctx, loop, about, file
        self.every_s = every_s
        self._last: tuple[int, float] = (0, -float("inf"))

    def __call__(self, p: EpochProgress) -> None:
        now = time.monotonic()
        epoch, at = self._last
        if p.epoch <= epoch or (now - at < self.every_s and p.epoch < p.epochs):
            return
        self._last = (p.epoch, now)
        self.ctx.report(
            self.loop,
            StageKind.FIT,
            p.epoch,
            p.epochs,
            self.about,
            f"validation loss {p.validation_loss:.3g}",
        )

    def from_file(self) -> None:
        """Report the epoch a pool worker's fit last wrote, if it is new."""
        found = read_epoch(self.file)
        if found is not None:
            self(found)


def sound_checkpoint(ctx: StageContext, loop: int) -> Path | None:
    """The checkpoint of ``loop`` when it is whole (None when missing or
    damaged: the loop is then unfinished and fitted again), checked to be
    this run's committee before anything evolves on it or pays an oracle
    call for it (:func:`check_committee`)."""
    path = ctx.checkpoint(loop)
    if damage(path):
        return None
    check_committee(ctx, path)
    return path


def check_committee(ctx: StageContext, checkpoint: Path) -> None:
    """Refuse a stored checkpoint fitted for other elements or with other
    committee options than the run's (a changed file, or a checkpoint
    copied from another campaign, must not mix two committees silently),
    naming the checkpoint."""
    manifest = read_manifest(checkpoint)
    elements = list(ctx.config.system.elements)
    if list(manifest.elements) != elements:
        raise RunError(
            f"{checkpoint} was fitted for the elements "
            f"{', '.join(manifest.elements)}, not the campaign's "
            f"{', '.join(elements)}; use a new store"
        )
    wanted = ctx.config.committee.model_dump(mode="json")
    differ = differences(manifest.options, wanted)
    if differ:
        raise RunError(
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
    parts = dict(ctx.flow.completed(ctx.executor, calls))
    return [p for k in range(len(chunks)) for p in parts[k]]


def errors_of(
    images, predictions, loop: int, calibration: CalibrationConfig | None = None
) -> SplitErrors:
    """:class:`~hyperal.runs.results.SplitErrors` of ``predictions``
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
    """:class:`~hyperal.runs.results.SplitErrors` of the committee of
    ``checkpoint`` on labelled ``images`` (None for no images)."""
    if not images:
        return None
    return errors_of(
        images,
        predictions_on(ctx, checkpoint, images),
        loop,
        ctx.config.calibration,
    )
