"""A barrier campaign's per-loop metrics: the committee's errors on the
proximal-saddle and random sets, its barriers of the random hops against
the oracle's (with a bootstrap interval over hops), triage counts and the
oracle's cost by cell size; computed once per loop and stored.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from hyperal.barriers.config import BarrierConfig
from hyperal.barriers.records import BarrierSplit, BarrierStage, HopWhere
from hyperal.barriers.statistics import (
    BarrierErrors,
    barrier_errors,
    barrier_errors_by,
    interval_text,
)
from hyperal.barriers.tasks import RUN, mlip_barrier
from hyperal.runs.context import StageContext
from hyperal.runs.flow import completed
from hyperal.runs.progress import StageKind
from hyperal.runs.records import OracleStatus, Split
from hyperal.runs.results import SplitErrors
from hyperal.runs.stages import (
    errors_of,
    errors_on,
    predictions_on,
)


class BarrierMetrics(BaseModel):
    """One loop of a barrier campaign."""

    model_config = ConfigDict(extra="forbid")

    loop: int
    oracle_calls: int
    n_train: int
    counts: dict[str, int] = {}
    tests: dict[str, SplitErrors] = {}
    #: the random hops: oracle and committee barriers (eV), in hop order
    barrier_oracle: list[float] = []
    barrier_mlip: list[float | None] = []
    #: why each committee search gave no barrier to trust ("" when it did)
    barrier_mlip_reason: list[str] = []
    #: each random hop's "hop type: hopping species" (:func:`hop_group`)
    barrier_hops: list[str] = []
    barrier_rmse_meV: float | None = None
    #: the barrier errors with their bootstrap interval over hops, overall
    #: and per hop type and hopping species (None in stores written before)
    barrier: BarrierErrors | None = None
    barrier_by_hop: dict[str, BarrierErrors] = {}
    #: atoms the oracle computed (each call counts its structure's atoms)
    oracle_atoms: int = 0
    #: per cell size (e.g. "2x2x2"): oracle_calls, oracle_atoms, and on the
    #: random hops of that size random_hops, random_force_rmse_meV_A,
    #: random_barrier_rmse_meV (docs/method.md §7: small cells per atom)
    by_cell_size: dict[str, dict[str, float | int | None]] = {}

    def errors(self, split: str):
        found = self.tests.get(split)
        return found.all if found else None

    def barrier_text(self) -> str:
        """The random-set barrier RMSE (meV) with its interval, ``"80 [55,
        101]"``; a store written before the interval was kept: the RMSE
        alone; ``"–"`` when no committee barrier was found."""
        if self.barrier is not None:
            return interval_text(self.barrier)
        return "–" if self.barrier_rmse_meV is None else f"{self.barrier_rmse_meV:.0f}"


def hop_group(row) -> str:
    """A stored hop's "hop type: hopping species" (e.g. ``fcc-vacancy: Cu``)."""
    return f"{row.get('hop', '') or '?'}: {row.get('hopping', '') or '?'}"


def _cost_by_cell_size(store, run: str, loop: int) -> dict[str, dict]:
    """Oracle calls and atoms computed up to ``loop``, per cell size: an
    oracle search's calls (``search_calls``; every structure it labelled is
    stored, but one structure may be computed more than once) times its
    cell's atoms, plus one call per structure labelled afterwards (a label
    copied from an identical structure or imported from another store cost
    nothing here). The database picks the few rows that carry these keys,
    not the thousands of stored search paths."""
    cost: dict[str, dict] = {}

    def add(row, calls):
        entry = cost.setdefault(
            row.get("cell_size", "") or "other", {"oracle_calls": 0, "oracle_atoms": 0}
        )
        entry["oracle_calls"] += calls
        entry["oracle_atoms"] += calls * row.natoms

    upto = HopWhere(run=run, max_loop=loop)
    for row in store.rows(upto.replace(has="search_calls")):
        add(row, int(row.search_calls))
    for status in (OracleStatus.OK, OracleStatus.FAILED):
        for row in store.rows(upto.replace(min_loop=1, status=status)):
            if not row.get("cached") and not row.get("from_search"):
                add(row, 1)
    return dict(sorted(cost.items()))


def _committee_barriers(
    ctx: StageContext[BarrierConfig], checkpoint: Path, saddles: list
) -> dict:
    """The committee's barrier of each random hop (searched between the
    oracle-relaxed ends), and why it gave none: ``{start_index: (barrier,
    reason)}``."""
    run = ctx.run
    ends = {
        (row.start_index, row.point): row.toatoms()
        for row in ctx.store.rows(
            HopWhere(run=run, loop=0, stage=BarrierStage.HOP, split=BarrierSplit.RANDOM)
        )
    }
    options = ctx.config.saddle
    calls = (
        (
            row.start_index,
            mlip_barrier,
            (
                str(checkpoint),
                ends[(row.start_index, "start")],
                ends[(row.start_index, "end")],
                options,
            ),
        )
        for row in saddles
    )
    return dict(completed(ctx.executor, calls))


def _triage_counts(store, run: str, loop: int) -> dict[str, int]:
    """Up to ``loop``: committee saddles per triage outcome, those the energy
    rule fired on, failed oracle calls, and random hops without a trusted
    oracle barrier."""
    upto = HopWhere(run=run, max_loop=loop)
    counts: dict[str, int] = {}
    for row in store.rows(upto.replace(has="triage")):
        counts[row.triage] = counts.get(row.triage, 0) + 1
    # the energy rule's count whatever the force rule said (artifactual
    # saddles whose barrier was off too are counted here and there)
    counts["barrier_off"] = store.count(upto.replace(marked="barrier_off"))
    counts["oracle_failures"] = store.count(upto.replace(status=OracleStatus.FAILED))
    # random hops whose oracle search gave no barrier to trust (left out)
    counts["random_untrusted"] = store.count(
        HopWhere(run=run, loop=0, point="saddle", drawn_as="random", split=Split.NONE)
    )
    return counts


def evaluate_barriers(
    ctx: StageContext[BarrierConfig], loop: int, checkpoint: Path
) -> BarrierMetrics:
    """Loop ``loop``'s figures: errors on the proximal saddles (all loops so
    far) and on the random set, the random hops' barriers searched on the
    committee against the oracle's, the triage counts, the oracle calls."""
    store, run = ctx.store, ctx.run
    ctx.report(loop, StageKind.EVALUATE, 0, 1)
    tests = {}
    for split in (BarrierSplit.PROXIMAL, BarrierSplit.TAIL):
        images = store.labelled(split=split, max_loop=loop, runs=[run])
        errors = errors_on(ctx, loop, checkpoint, images)
        if errors is not None:
            tests[split.value] = errors
    # the random set is predicted once: its errors overall and per cell size
    random = store.labelled(split=BarrierSplit.RANDOM, max_loop=0, runs=[run])
    predicted = predictions_on(ctx, checkpoint, random) if random else []
    if random:
        tests[BarrierSplit.RANDOM.value] = errors_of(
            random, predicted, loop, ctx.config.calibration
        )
    saddles = store.rows(
        HopWhere(
            run=run,
            loop=0,
            stage=BarrierStage.HOP,
            point="saddle",
            split=BarrierSplit.RANDOM,
        )
    )
    found = _committee_barriers(ctx, checkpoint, saddles)
    oracle = [float(row.barrier_oracle) for row in saddles]
    mlip = [found[row.start_index][0] for row in saddles]
    groups = [hop_group(row) for row in saddles]
    counts = _triage_counts(store, run, loop)
    by_size = _cost_by_cell_size(store, run, loop)
    random_sizes = [row.get("cell_size", "") for row in saddles]
    for size, figures in by_size.items():
        mine = [k for k, a in enumerate(random) if a.info.get("cell_size") == size]
        errors = (
            errors_of(
                [random[k] for k in mine],
                [predicted[k] for k in mine],
                loop,
                ctx.config.calibration,
            )
            if mine
            else None
        )
        here = [k for k, z in enumerate(random_sizes) if z == size]
        figures.update(
            random_hops=sum(z == size for z in random_sizes),
            random_force_rmse_meV_A=None
            if errors is None
            else errors.all.force_rmse_meV_A,
            random_barrier_rmse_meV=barrier_errors(
                [oracle[k] for k in here], [mlip[k] for k in here]
            ).rmse_meV,
        )
    overall = barrier_errors(oracle, mlip)
    metrics = BarrierMetrics(
        loop=loop,
        oracle_calls=sum(int(f["oracle_calls"]) for f in by_size.values()),
        n_train=len(store.labelled(split=Split.TRAIN, max_loop=loop, runs=[run])),
        counts=counts,
        tests=tests,
        barrier_oracle=oracle,
        barrier_mlip=mlip,
        barrier_mlip_reason=[found[row.start_index][1] for row in saddles],
        barrier_hops=groups,
        barrier=overall,
        barrier_by_hop=barrier_errors_by(groups, oracle, mlip),
        barrier_rmse_meV=overall.rmse_meV,
        oracle_atoms=sum(int(f["oracle_atoms"]) for f in by_size.values()),
        by_cell_size=by_size,
    )
    store.put_data(
        BarrierStage.BARRIER_METRICS,
        f"{run}:barrier-metrics-{loop}",
        run,
        loop,
        {"metrics": metrics.model_dump(mode="json")},
    )
    ctx.report(loop, StageKind.EVALUATED, 1, 1)
    return metrics


def barrier_metrics(store, run: str = RUN) -> list[BarrierMetrics]:
    """Per-loop figures of a barrier campaign, loop order."""
    return [
        BarrierMetrics.model_validate(row.data["metrics"])
        for row in store.data_rows(BarrierStage.BARRIER_METRICS, run)
    ]
