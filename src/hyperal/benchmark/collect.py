"""The benchmark's results read from its store: every variant's learning
curves, calls to the target and the figures of its selected frames, ranked
and compared (:func:`collect`)."""

from __future__ import annotations

import math

import numpy as np

from hyperal.benchmark.config import BenchmarkConfig
from hyperal.benchmark.primary import primary_result, structure_errors
from hyperal.benchmark.results import (
    BenchmarkResults,
    Curve,
    VariantSummary,
    calls_to_reach,
    mean_over_budget,
    paired_comparisons,
)
from hyperal.benchmark.run import shared_run, variant_run
from hyperal.benchmark.variants import Variant
from hyperal.campaign.config import CampaignConfig, SelectionConfig
from hyperal.evolve.rules import RULES
from hyperal.metrics import uncertainty_rank_correlation
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus, Split, Stage
from hyperal.runs.results import FinalErrors
from hyperal.runs.store import Store


def _sigma_rank(final: FinalErrors, names) -> float:
    """Spearman ρ of σ_U per atom against |ΔE| per atom over the sets
    ``names`` (the ranking set's): does the committee know where it is
    wrong?"""
    sigma, errors = [], []
    for name in names:
        if name not in final.tests:
            continue
        p = final.tests[name].parity
        if len(p.natoms) != len(p.sigma):
            continue
        sigma += [s / n for s, n in zip(p.sigma, p.natoms, strict=True)]
        errors += [a - b for a, b in zip(p.energy_pred, p.energy_ref, strict=True)]
    return uncertainty_rank_correlation(sigma, errors) if sigma else math.nan


def _selected_frames(store: Store, runs: list[str]) -> tuple[float, int]:
    """RMS per-atom oracle force norm sqrt(mean_i |F_i|²) of the runs'
    labelled selected frames (eV/Å; √3 × the component RMS) and how many of
    them are their trajectory's unevolved start."""
    forces, starts = [], 0
    for run in runs:
        start_keys = {
            (row.loop, row.start_index): row.get("structure_key")
            for row in store.rows(Where(run=run, stage=Stage.START))
        }
        for row in store.rows(
            Where(run=run, stage=Stage.SELECTED, status=OracleStatus.OK)
        ):
            forces.append(np.sum(row.forces**2, axis=1))
            key = start_keys.get((row.loop, row.start_index))
            starts += key is not None and key == row.get("structure_key")
    if not forces:
        return math.nan, 0
    return float(np.sqrt(np.mean(np.concatenate(forces)))), starts


def _training_labels(store: Store, replicate: int, run: str, loops: int) -> list[int]:
    initial = store.count(
        Where(
            run=shared_run(replicate),
            stage=Stage.INITIAL,
            split=Split.TRAIN,
            status=OracleStatus.OK,
        )
    )
    out = []
    for loop in range(loops + 1):
        own = sum(
            store.count(
                Where(run=run, max_loop=loop, stage=Stage.SELECTED, status=status)
            )
            for status in (OracleStatus.OK, OracleStatus.FAILED)
        )
        out.append(initial + own)
    return out


def selection_label(selection: SelectionConfig) -> str:
    """A variant's selection in a few words: the rule when it reads no score
    (``random``), else the score it selects by (``max_sigma`` for σ_U),
    ``+ batch`` when chosen together."""
    if not RULES[selection.rule].uses_score:
        return selection.rule
    score = selection.score
    label = "max_sigma" if score == "energy_sigma" else score
    return label + (" + batch" if selection.batch else "")


def _curves(store: Store, bench: BenchmarkConfig, loops: int) -> dict:
    """Every (replicate, variant)'s learning curve, from its final evaluations."""
    curves: dict[tuple[int, str], Curve] = {}
    for r in range(bench.replicates):
        for v in bench.variants:
            run = variant_run(r, v.name)
            final = store.final(run)
            if len(final) != loops + 1:
                raise ValueError(
                    f"run {run} has {len(final)} of {loops + 1} final evaluations: "
                    "the benchmark has not finished (run it again to resume)"
                )
            curves[r, v.name] = Curve(
                v.name, r, _training_labels(store, r, run, loops), final
            )
    return curves


def _selected_sigma(metrics: list, loops: int) -> list[float]:
    """Mean σ_U of the frames selected in each loop, over the replicates."""
    sigma = []
    for loop in range(1, loops + 1):
        values = [
            s for m in metrics for x in m if x.loop == loop for s in x.selected_sigma
        ]
        sigma.append(float(np.mean(values)) if values else math.nan)
    return sigma


def _summary(
    store: Store,
    bench: BenchmarkConfig,
    v: Variant,
    mine: list[Curve],
    targets: list[float],
    reference_calls: list,
    loops: int,
) -> VariantSummary:
    """One variant's figures over its replicates' curves ``mine``."""
    rank_set = bench.rank_name
    calls = [
        calls_to_reach(c.labels, c.figure(rank_set), targets[c.replicate]) for c in mine
    ]
    mean_curve = np.nanmean([c.figure(rank_set) for c in mine], axis=0)
    rises = mean_curve[1:] / mean_curve[:-1] - 1
    runs = [variant_run(r, v.name) for r in range(bench.replicates)]
    metrics = [store.metrics(run) for run in runs]
    force_rms, n_starts = _selected_frames(store, runs)
    return VariantSummary(
        variant=v.name,
        scheme=v.scheme.full_name,
        rule=selection_label(v.selection),
        replicates=bench.replicates,
        final_force_rmse=[c.figure(rank_set)[-1] for c in mine],
        final_gentle_force_rmse=[c.figure("gentle")[-1] for c in mine],
        final_energy_rmse=[
            c.figure(rank_set, "energy_rmse_meV_atom")[-1] for c in mine
        ],
        final_labels=[c.labels[-1] for c in mine],
        calls_to_target=calls,
        ratio_to_reference=[
            None if c is None or not ref else c / ref
            for c, ref in zip(calls, reference_calls, strict=True)
        ],
        budget_ratio=[
            c.labels[-1] / ref if ref else math.nan
            for c, ref in zip(mine, reference_calls, strict=True)
        ],
        mean_error_over_budget=[
            mean_over_budget(c.labels, c.figure(rank_set)) for c in mine
        ],
        largest_rise=float(np.max(rises)) if len(rises) else 0.0,
        oracle_failures=sum(
            store.count(Where(run=run, status=OracleStatus.FAILED)) for run in runs
        ),
        skipped=sum(m.n_skipped for ms in metrics for m in ms),
        redundant=sum(m.n_redundant for ms in metrics for m in ms),
        selected_sigma=_selected_sigma(metrics, loops),
        sigma_rank=[_sigma_rank(c.final[-1], bench.rank_members) for c in mine],
        selected_force_rms=force_rms,
        selected_starts=n_starts,
    )


def collect(
    store: Store, bench: BenchmarkConfig, base: CampaignConfig
) -> BenchmarkResults:
    """The benchmark's results from its store (after :meth:`Benchmark.run`),
    ranked and targeted on the frozen set ``bench.rank_set``."""
    loops = base.loops
    rank_set = bench.rank_name
    curves = _curves(store, bench, loops)
    replicates = range(bench.replicates)
    reference = [curves[r, bench.reference] for r in replicates]
    targets = [
        bench.target_force_rmse_meV_A
        if bench.target_force_rmse_meV_A is not None
        else c.figure(rank_set)[-1]
        for c in reference
    ]
    reference_calls = [
        calls_to_reach(c.labels, c.figure(rank_set), targets[r])
        for r, c in zip(replicates, reference, strict=True)
    ]
    summaries = []
    own_labels = 0
    for v in bench.variants_of(base):
        mine = [curves[r, v.name] for r in replicates]
        own_labels += sum(c.labels[-1] - c.labels[0] for c in mine)
        summaries.append(
            _summary(store, bench, v, mine, targets, reference_calls, loops)
        )
    shared = sum(store.oracle_calls(Where(run=shared_run(r))) for r in replicates)
    control = bench.control_variant(base)
    primary = None
    if bench.primary is not None:
        declared = bench.primary
        primary = primary_result(
            structure_errors(curves.values(), declared.test_set),
            declared.pairs(bench, base),
            measure=declared.measure,
            test_set=declared.test_set,
            alpha=declared.alpha,
            draws=declared.draws,
        )
    return BenchmarkResults(
        curves=list(curves.values()),
        summaries=summaries,
        targets=targets,
        total_oracle_calls=store.oracle_calls(),
        own_training_labels=own_labels,
        shared_labels=shared,
        reference=bench.reference,
        rank_set=rank_set,
        control=control,
        comparisons=paired_comparisons(summaries, bench.reference, control),
        primary=primary,
    )
