"""The barrier campaign's stages, as functions of a stage context: loop 0
(oracle searches, or structures imported from a campaign's store), the
choice of the hops a loop searches, the committee's searches and the
triage of their saddles (each row written as it arrives).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

from hyperal.barriers.config import BarrierConfig
from hyperal.barriers.hops import draw_hops, iter_hops
from hyperal.barriers.records import (
    BarrierSplit,
    BarrierStage,
    HopRow,
    hop_name,
    imported_name,
)
from hyperal.barriers.source import open_source, source_training
from hyperal.barriers.tasks import (
    POINTS,
    closest_pair,
    mlip_saddle,
    oracle_saddle,
    untrusted_reason,
)
from hyperal.committee.grade import ExtrapolationGrade, select_tail
from hyperal.models.protocol import predict
from hyperal.oracle import Label
from hyperal.runs.context import StageContext
from hyperal.runs.progress import StageKind
from hyperal.runs.query import Row, Where
from hyperal.runs.records import OracleStatus, Split
from hyperal.runs.seeds import stream
from hyperal.runs.stages import (
    label_in_background,
    training_set,
)
from hyperal.runs.store import display_url
from hyperal.runs.tasks import committee


def _hop_row(ctx, loop, index, point, atoms, *, split=Split.NONE, **keys) -> HopRow:
    """The row of point ``point`` of hop ``index``: its typed keys
    (``status``, ``drawn_as``, ``triage``) from ``keys``, the rest describe
    it."""
    typed = {k: keys.pop(k) for k in ("status", "drawn_as", "triage") if k in keys}
    return HopRow(
        hop_name(ctx.run, loop, index, point),
        ctx.run,
        BarrierStage.HOP,
        loop,
        split,
        start_index=index,
        point=point,
        about={
            "source": f"hop_{point}",
            "hop": atoms.info.get("hop", ""),
            # ase.db refuses a string that reads as a number: keep it text
            "decoration": "d" + str(atoms.info.get("decoration", "")),
            "hopping": atoms.info.get("hopping", ""),
            "cell_size": atoms.info.get("cell_size", ""),
            **{
                key: float(atoms.info[key])
                for key in ("linear_strain", "von_mises_strain")
                if key in atoms.info
            },
            **keys,
        },
        **typed,
    )


def _add_and_stream(ctx: StageContext[BarrierConfig], loop: int, entries: list) -> None:
    """Store ``entries`` in one transaction; with a labeller, submit at once
    the label of each that awaits one, so the oracle works while the next
    search runs (each label is stored as it lands; the loop's labelling
    stage waits for those in flight by row)."""
    ids = ctx.store.add(entries)
    if ctx.labeller is None:
        return
    for row_id, (atoms, row) in zip(ids, entries, strict=True):
        if row.status == OracleStatus.PENDING:
            label_in_background(ctx, loop, row_id, atoms, row.split)


def _have(ctx, loop) -> set[int]:
    return {
        row.start_index
        for row in ctx.store.rows(Where(loop=loop, run=ctx.run, stage=BarrierStage.HOP))
    }


def import_campaign(ctx: StageContext[BarrierConfig]):
    """Loop 0 with ``initial.from_campaign``: the labels the source committee
    was fitted on, copied into this store as training rows in one write (no
    oracle call; done once); returns the source (None without one)."""

    if ctx.config.initial.from_campaign is None:
        return None
    # a rerun continues from the loop imported (every imported row names
    # it), even when the source campaign has finished more loops since
    done = ctx.store.first(Where(run=ctx.run, stage=BarrierStage.IMPORTED))
    source = open_source(ctx.config, loop=None if done is None else done.source_loop)
    if done is not None:
        return source
    entries = []
    for k, atoms in enumerate(source_training(source)):
        results = atoms.calc.results
        label = Label(
            "ok",
            energy=float(results["energy"]),
            forces=np.array(results["forces"]),
            stress=results.get("stress"),
            oracle=atoms.info.get("oracle", ""),
        )
        row = Row(
            imported_name(ctx.run, k),
            ctx.run,
            BarrierStage.IMPORTED,
            0,
            Split.TRAIN,
            frame=k,
            about={
                "source": atoms.info.get("source", "imported"),
                "imported_from": (
                    f"{display_url(source.store.path)}#{atoms.info['name']}"
                ),
                "source_loop": source.loop,
            },
        )
        entries.append((atoms, row, label))
    ctx.store.add(entries)
    ctx.report(0, StageKind.INITIAL, 1, 1, f"{len(entries)} labels imported")
    return source


def initial_barriers(ctx: StageContext[BarrierConfig]) -> int:
    """Loop 0: the oracle's saddle searches of the training and the random
    hops; each hop's three labelled points stored together."""
    cfg = ctx.config
    hops = [(h, Split.TRAIN) for h in draw_hops(cfg, 0, cfg.initial.train, 1)]
    hops += [
        (h, BarrierSplit.RANDOM) for h in draw_hops(cfg, 0, cfg.initial.random_set, 2)
    ]
    have = _have(ctx, 0)
    todo = [i for i in range(len(hops)) if i not in have]
    options = cfg.saddle
    calls = ((i, oracle_saddle, (ctx.oracle, hops[i][0], options)) for i in todo)
    for n, (i, (result, labels, path, paid, failure)) in enumerate(
        ctx.flow.completed(ctx.executor, calls), 1
    ):
        start, split = hops[i]
        # every labelled structure of the search is kept; every
        # path_stride-th of a training hop's path trains, a random hop's path
        # never (its three points are the test set)
        stride = cfg.initial.path_stride
        entries = [
            (
                atoms,
                _hop_row(
                    ctx,
                    0,
                    i,
                    f"path-{k}",
                    start,
                    split=(
                        Split.TRAIN
                        if split == Split.TRAIN and k % stride == 0
                        else Split.NONE
                    ),
                    from_search=1,
                ),
                label,
            )
            for k, (atoms, label) in enumerate(path)
        ]
        if result is None:
            row = _hop_row(ctx, 0, i, "start", start, search_calls=paid)
            entries.append(
                (start, row, Label("failed", reason=failure, oracle=ctx.oracle.name))
            )
        else:
            # a random hop whose oracle search gives no barrier to trust (not
            # converged, not connecting, a saddle below an end) cannot be the
            # reference of a barrier error: its labels are kept, outside the
            # random set; a training hop's labels train either way
            usable = split == Split.TRAIN or result.ok
            common = {
                "split": split if usable else Split.NONE,
                "barrier_oracle": float(result.barrier_forward),
                "connects": int(result.connects),
                "converged": int(result.converged),
                "method": result.method,
                "intermediates": len(result.intermediates),
                "from_search": 1,
                "drawn_as": split,
            }
            if not result.ok:
                common["search_reason"] = untrusted_reason(result)
            for point in POINTS:
                atoms = getattr(result, point).copy()
                atoms.info.update(start.info)
                extra = dict(common)
                if point == "saddle":
                    extra["search_calls"] = paid
                entries.append(
                    (atoms, _hop_row(ctx, 0, i, point, atoms, **extra), labels[point])
                )
        ctx.store.add(entries)  # a search's labels arrive together: one write
        ctx.report(0, StageKind.INITIAL, n, len(todo), "oracle saddle searches")
    return len(todo)


def choose_hops(
    ctx: StageContext[BarrierConfig], loop: int, checkpoint: Path
) -> list[Atoms]:
    """Loop ``loop``'s hops to search on the committee: the first ``starts``
    drawn (``selection.score: none``), or the tail of the scores of the
    drawn hops' start states — the committee's σ_U per atom or the grade γ
    — with ``selection.test_fraction`` of the tail set aside (their starts
    labelled into the tail test set, never trained on): docs/method.md §7."""

    cfg = ctx.config
    chosen = cfg.selection
    if chosen.score == "none":
        return draw_hops(cfg, loop, cfg.starts, 0)
    model = committee(str(checkpoint))
    if chosen.score == "sigma":

        def score(atoms):
            (prediction,) = predict(model, [atoms])
            return float(prediction.sigma) / len(atoms)

    else:
        grade = ExtrapolationGrade.from_training(
            model, training_set(ctx, loop - 1, [ctx.run])
        )

        def score(atoms):
            return grade.structure(model, atoms)

    n_test = int(round(chosen.test_fraction * cfg.starts / (1 - chosen.test_fraction)))
    picked = select_tail(
        iter_hops(cfg, loop, 0),
        score,
        cfg.starts + n_test,
        test_fraction=n_test / (cfg.starts + n_test),
        min_drawn=chosen.min_drawn,
        max_drawn=chosen.max_drawn,
        short_tail="top",
        rng=stream(cfg.seed, loop, 3),
    )
    for atoms in picked.test:
        atoms.info["tail_test"] = 1
    ctx.report(
        loop,
        StageKind.EVOLVE,
        0,
        1,
        f"tail of {picked.drawn} drawn hops ({chosen.score})"
        + ("" if picked.complete else ": short, the highest scores taken"),
    )
    return [*picked.train, *picked.test]


def _unstable_entries(ctx, loop, i, start, why, collapse) -> list:
    """A committee search whose ends did not relax: its start trains, and
    the edge of the committee's hole (``collapse``), labelled, trains too."""
    row = _hop_row(
        ctx,
        loop,
        i,
        "start",
        start,
        split=Split.TRAIN,
        triage="instability",
        reason=why[:200],
    )
    entries = [(start, row)]
    if collapse is not None:
        row = _hop_row(
            ctx,
            loop,
            i,
            "collapse",
            collapse,
            split=Split.TRAIN,
            triage="collapse",
            closest_A=closest_pair(collapse),
        )
        entries.append((collapse, row))
    return entries


def _saddle_entries(ctx, loop, i, start, result, force) -> list:
    """A committee saddle to label — or blocked (atoms too close, or the
    committee's force too large), skipped with the reason — and, for the
    energy rule, the committee's relaxed start to label beside it."""
    triage = ctx.config.triage
    saddle = result.saddle.copy()
    saddle.info.update(start.info)
    row = _hop_row(
        ctx,
        loop,
        i,
        "saddle",
        saddle,
        barrier_mlip=float(result.barrier_forward),
        connects=int(result.connects),
        method=result.method,
        mlip_max_force=float(force),
    )
    closest = closest_pair(saddle)
    blocked = closest < triage.min_distance_A or force > triage.max_force_eV_A
    if blocked:
        row = row.replace(
            status=OracleStatus.SKIPPED,
            triage="blocked",
            reason=f"blocked: closest atoms {closest:.2f} Å, "
            f"committee max force {force:.1f} eV/Å",
        )
    entries = [(saddle, row)]
    if not blocked and triage.barrier_error_eV is not None:
        # the energy rule needs the oracle's energy at the committee's
        # relaxed start too: the oracle barrier at the committee's two
        # structures, against the committee's (sort_saddles)
        relaxed = result.start.copy()
        relaxed.info.update(start.info)
        entries.append((relaxed, _hop_row(ctx, loop, i, "start", relaxed)))
    return entries


def search_saddles(
    ctx: StageContext[BarrierConfig], loop: int, checkpoint: Path
) -> int:
    """Loop ``loop``: the committee's saddle searches of the chosen hops
    (:func:`choose_hops`), each outcome stored as it arrives: an instability
    (the unrelaxed start, to be labelled into training), a blocked saddle, or
    a saddle to label. A tail test hop's start is stored to be labelled into
    the tail test set instead of being searched. With a labeller, every row
    that awaits a label is labelled in the background the moment it is
    stored; the loop's labelling stage waits for those in flight."""
    cfg = ctx.config
    have = _have(ctx, loop)
    # the same hops on a rerun: the same draws, scores and checkpoint
    hops = choose_hops(ctx, loop, checkpoint)
    tests = [i for i, h in enumerate(hops) if h.info.get("tail_test")]
    for i in tests:
        if i not in have:
            row = _hop_row(ctx, loop, i, "start", hops[i], split=BarrierSplit.TAIL)
            _add_and_stream(ctx, loop, [(hops[i], row)])
    have = _have(ctx, loop)
    todo = [i for i in range(len(hops)) if i not in have and i not in tests]
    options = cfg.saddle
    triage = cfg.triage
    calls = (
        (i, mlip_saddle, (str(checkpoint), hops[i], options, triage.min_distance_A))
        for i in todo
    )
    for n, (i, (result, force, failure, collapse)) in enumerate(
        ctx.flow.completed(ctx.executor, calls), 1
    ):
        start = hops[i]
        if result is None or not result.ends_relaxed:
            entries = _unstable_entries(
                ctx, loop, i, start, failure or result.reason, collapse
            )
        else:
            entries = _saddle_entries(ctx, loop, i, start, result, force)
        _add_and_stream(ctx, loop, entries)
        ctx.report(loop, StageKind.EVOLVE, n, len(todo), "MLIP saddle searches")
    return len(todo)


def sort_saddles(ctx: StageContext[BarrierConfig], loop: int) -> None:
    """Labelled MLIP saddles of ``loop``, by two rules (docs/method.md §7).
    Force rule: oracle max force above ``triage.artifact_force_eV_A`` makes
    the saddle *artifactual* (it trains). Energy rule (with
    ``triage.barrier_error_eV``): the committee's barrier E(saddle) −
    E(start) against the oracle's at the same two structures (the saddle and
    the committee's relaxed start, both labelled); off by more than the
    limit, the saddle and its start train — an *energy* saddle when the
    force rule alone would have called it proximal. The others are
    *proximal* (the proximal-saddle test set). Every saddle records its
    oracle max force, and, where its start was labelled, the oracle barrier
    there (``barrier_oracle_here``) and the error (``barrier_error``)."""
    triage = ctx.config.triage
    labelled = ctx.store.rows(
        Where(
            loop=loop,
            run=ctx.run,
            stage=BarrierStage.HOP,
            status=OracleStatus.OK,
            split=Split.NONE,
        )
    )
    starts = {row.start_index: row for row in labelled if row.point == "start"}
    changes = []
    for row in (row for row in labelled if row.point == "saddle"):
        force = float(np.max(np.linalg.norm(row.forces, axis=1)))
        by_force = force > triage.artifact_force_eV_A
        found: dict = {}
        start = starts.get(row.start_index)
        off = False
        if start is not None and triage.barrier_error_eV is not None:
            here = float(row.energy) - float(start.energy)
            error = float(row.barrier_mlip) - here
            found = {"barrier_oracle_here": here, "barrier_error": error}
            off = abs(error) > triage.barrier_error_eV
            if off:
                changes.append((start.id, {"split": Split.TRAIN, "energy_start": 1}))
        kind = "artifactual" if by_force else "energy" if off else "proximal"
        split = Split.TRAIN if by_force or off else BarrierSplit.PROXIMAL
        changes.append(
            (
                row.id,
                {
                    "split": split,
                    "triage": kind,
                    "oracle_max_force": force,
                    "barrier_off": int(off),
                    **found,
                },
            )
        )
    ctx.store.update(changes)  # one transaction, as before
