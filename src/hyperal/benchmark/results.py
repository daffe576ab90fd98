"""The benchmark's verdict, recomputed from the store alone: learning curves
on the final frozen test sets against the oracle calls spent on training
data, their mean and spread over replicates, the oracle calls each variant
needs to reach a target error, and the cost of the whole benchmark.

"Training labels" of a variant after loop k: the shared initial training
frames (the same for every variant of a replicate) plus the variant's own
selected frames labelled up to loop k (failed labels included: they were
paid for; a label copied from an identical structure included too: the
variant alone would have paid for it). Test-set labels are not counted
against any variant.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hyperal.benchmark.config import BenchmarkConfig
from hyperal.benchmark.run import shared_run, variant_run
from hyperal.campaign.records import OracleStatus, Split, Stage
from hyperal.campaign.results import ErrorSummary, FinalErrors
from hyperal.campaign.store import Store
from hyperal.metrics import uncertainty_rank_correlation


@dataclass(frozen=True)
class Curve:
    """One variant's learning curve in one replicate: per loop, the training
    labels so far and the errors on the final frozen sets."""

    variant: str
    replicate: int
    labels: list[int]
    final: list[FinalErrors]

    def figure(self, split: str, key: str = "force_rmse_meV_A") -> list[float]:
        return [
            getattr(f.errors(split), key) if f.errors(split) else math.nan
            for f in self.final
        ]


def calls_to_reach(labels, errors, target: float) -> float | None:
    """Training labels at which the curve first reaches ``target`` (linear
    between loops); None when it never does."""
    for k, (x, y) in enumerate(zip(labels, errors, strict=True)):
        if y <= target:
            if k == 0:
                return float(x)
            x0, y0 = labels[k - 1], errors[k - 1]
            return float(x0 + (x - x0) * (y0 - target) / (y0 - y))
    return None


def mean_over_budget(labels, errors) -> float:
    """Area under the curve (trapezoids over training labels) divided by the
    labels spanned: the error averaged over the labelling budget."""
    x, y = np.asarray(labels, float), np.asarray(errors, float)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y[-1])
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)) / (x[-1] - x[0]))


@dataclass(frozen=True)
class VariantSummary:
    """What the benchmark says about one variant (over its replicates)."""

    variant: str
    scheme: str
    rule: str
    replicates: int
    final_force_rmse: list[float]  # per replicate, on the ranking set
    final_gentle_force_rmse: list[float]
    final_energy_rmse: list[float]
    final_labels: list[int]
    calls_to_target: list[float | None]
    ratio_to_reference: list[float | None]
    mean_error_over_budget: list[float]
    largest_rise: float  # of the mean curve from one loop to the next
    oracle_failures: int
    skipped: int
    redundant: int
    selected_sigma: list[float] = field(default_factory=list)  # mean per loop
    #: Spearman ρ of σ_U per atom against |energy error| per structure of the
    #: last committee on the frozen sets (difficult and test file), per replicate
    sigma_rank: list[float] = field(default_factory=list)
    #: RMS oracle force component of the labelled selected frames (eV/Å): how
    #: far from equilibrium the variant's labels lie
    selected_force_rms: float = math.nan
    #: selected frames that are the unevolved start of their trajectory
    selected_starts: int = 0

    @staticmethod
    def _mean(values) -> float:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan

    @staticmethod
    def _std(values) -> float:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        return float(np.std(finite)) if len(finite) > 1 else 0.0

    @property
    def force_rmse(self) -> tuple[float, float]:
        return self._mean(self.final_force_rmse), self._std(self.final_force_rmse)

    @property
    def ratio(self) -> tuple[float, float, int]:
        """Mean and spread of the ratio of oracle calls to the reference's,
        and in how many replicates the target was reached."""
        reached = [r for r in self.ratio_to_reference if r is not None]
        return self._mean(reached), self._std(reached), len(reached)


@dataclass(frozen=True)
class BenchmarkResults:
    curves: list[Curve]
    summaries: list[VariantSummary]
    targets: list[float]  # per replicate
    total_oracle_calls: int
    own_training_labels: int  # summed over variants
    shared_labels: int  # the shared runs' calls (once)
    reference: str
    rank_set: str = "difficult"  # the frozen set the ranking and target use

    @property
    def cost_ratio(self) -> float:
        """Oracle calls made / (every variant's own training labels + one copy
        of the shared sets): 1 when nothing is paid twice."""
        return self.total_oracle_calls / max(
            1, self.own_training_labels + self.shared_labels
        )

    def ranking(self) -> list[VariantSummary]:
        return sorted(self.summaries, key=lambda s: s.force_rmse[0])

    def text(self) -> str:
        """A short ranking: final difficult force RMSE, calls to the target."""
        lines = [
            f"ranking by final force RMSE on the frozen {self.rank_set} set "
            f"(mean ± std over {self.summaries[0].replicates} replicate(s)); "
            f"calls to reach {self.reference}'s final error per replicate, as a "
            f"ratio to {self.reference}'s calls:",
        ]
        for k, s in enumerate(self.ranking(), 1):
            mean, std = s.force_rmse
            ratio, spread, reached = s.ratio
            reach = (
                f"{ratio:.2f}× ± {spread:.2f} ({reached}/{s.replicates} reached)"
                if reached
                else f"not reached (0/{s.replicates})"
            )
            lines.append(
                f"{k:2d}. {s.variant:<12} F {mean:7.1f} ± {std:5.1f} meV/Å   "
                f"labels {np.mean(s.final_labels):6.1f}   to target {reach}   "
                f"largest rise {100 * s.largest_rise:+.0f} %   "
                f"σ–error ρ {s._mean(s.sigma_rank):.2f}   selected: F_rms "
                f"{s.selected_force_rms:.2f} eV/Å, {s.selected_starts} starts"
            )
        lines.append(
            f"oracle calls: {self.total_oracle_calls} made for "
            f"{self.own_training_labels} variant training labels + "
            f"{self.shared_labels} shared (ratio {self.cost_ratio:.3f})"
        )
        return "\n".join(lines)

    def write_csv(self, folder: str | Path) -> list[Path]:
        """``curves.csv`` (one row per variant, replicate, loop, test set and
        structure type) and ``summary.csv`` (one row per variant)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        keys = list(ErrorSummary.model_fields)
        curves = folder / "curves.csv"
        with curves.open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(
                [
                    "variant",
                    "replicate",
                    "loop",
                    "training_labels",
                    "test_set",
                    "type",
                    *keys,
                ]
            )
            for c in self.curves:
                for labels, final in zip(c.labels, c.final, strict=True):
                    for name, errors in final.tests.items():
                        by_type = {"all": errors.all, **errors.by_source}
                        for kind, summary in by_type.items():
                            values = [getattr(summary, k) for k in keys]
                            out.writerow(
                                [
                                    c.variant,
                                    c.replicate,
                                    final.loop,
                                    labels,
                                    name,
                                    kind,
                                    *values,
                                ]
                            )
        summary = folder / "summary.csv"
        with summary.open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(
                [
                    "variant",
                    "scheme",
                    "rule",
                    "force_rmse_mean_meV_A",
                    "force_rmse_std_meV_A",
                    "gentle_force_rmse_mean_meV_A",
                    "energy_rmse_mean_meV_atom",
                    "training_labels_mean",
                    "calls_ratio_mean",
                    "calls_ratio_std",
                    "reached",
                    "mean_error_over_budget_meV_A",
                    "largest_rise",
                    "sigma_error_rank_rho",
                    "selected_force_rms_eV_A",
                    "selected_starts",
                    "oracle_failures",
                    "skipped",
                    "redundant",
                ]
            )
            for s in self.ranking():
                ratio, spread, reached = s.ratio
                out.writerow(
                    [
                        s.variant,
                        s.scheme,
                        s.rule,
                        *s.force_rmse,
                        s._mean(s.final_gentle_force_rmse),
                        s._mean(s.final_energy_rmse),
                        np.mean(s.final_labels),
                        ratio,
                        spread,
                        reached,
                        s._mean(s.mean_error_over_budget),
                        s.largest_rise,
                        s._mean(s.sigma_rank),
                        s.selected_force_rms,
                        s.selected_starts,
                        s.oracle_failures,
                        s.skipped,
                        s.redundant,
                    ]
                )
        return [curves, summary]


def _sigma_rank(final: FinalErrors) -> float:
    """Spearman ρ of σ_U per atom against |ΔE| per atom over the difficult
    set and the test file: does the committee know where it is wrong?"""
    sigma, errors = [], []
    for name in ("difficult", "test_file"):
        if name not in final.tests:
            continue
        p = final.tests[name].parity
        if len(p.natoms) != len(p.sigma):
            continue
        sigma += [s / n for s, n in zip(p.sigma, p.natoms, strict=True)]
        errors += [a - b for a, b in zip(p.energy_pred, p.energy_ref, strict=True)]
    return uncertainty_rank_correlation(sigma, errors) if sigma else math.nan


def _selected_frames(store: Store, runs: list[str]) -> tuple[float, int]:
    """RMS oracle force of the runs' labelled selected frames (eV/Å) and how
    many of them are their trajectory's unevolved start."""
    forces, starts = [], 0
    for run in runs:
        start_keys = {
            (row.loop, row.start_index): row.get("structure_key")
            for row in store.rows(run=run, stage=Stage.START.value)
        }
        for row in store.rows(
            run=run, stage=Stage.SELECTED.value, oracle_status=OracleStatus.OK.value
        ):
            forces.append(row.forces.ravel())
            key = start_keys.get((row.loop, row.start_index))
            starts += key is not None and key == row.get("structure_key")
    if not forces:
        return math.nan, 0
    return float(np.sqrt(np.mean(np.concatenate(forces) ** 2))), starts


def _training_labels(store: Store, replicate: int, run: str, loops: int) -> list[int]:
    initial = store.count(
        run=shared_run(replicate),
        stage=Stage.INITIAL.value,
        split=Split.TRAIN.value,
        oracle_status=OracleStatus.OK.value,
    )
    out = []
    for loop in range(loops + 1):
        own = sum(
            store.count(
                f"loop<={loop}",
                run=run,
                stage=Stage.SELECTED.value,
                oracle_status=status.value,
            )
            for status in (OracleStatus.OK, OracleStatus.FAILED)
        )
        out.append(initial + own)
    return out


def collect(store: Store, bench: BenchmarkConfig, loops: int) -> BenchmarkResults:
    """The benchmark's results from its store (after :meth:`Benchmark.run`),
    ranked and targeted on the frozen set ``bench.rank_set``."""
    rank_set = bench.rank_set
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
    targets = []
    for r in range(bench.replicates):
        if bench.target_force_rmse_meV_A is not None:
            targets.append(bench.target_force_rmse_meV_A)
        else:
            targets.append(curves[r, bench.reference].figure(rank_set)[-1])
    reference_calls = [
        calls_to_reach(
            curves[r, bench.reference].labels,
            curves[r, bench.reference].figure(rank_set),
            targets[r],
        )
        for r in range(bench.replicates)
    ]
    summaries = []
    own_labels = 0
    for v in bench.variants:
        mine = [curves[r, v.name] for r in range(bench.replicates)]
        calls = [
            calls_to_reach(c.labels, c.figure(rank_set), targets[c.replicate])
            for c in mine
        ]
        ratios = [
            None if c is None or not ref else c / ref
            for c, ref in zip(calls, reference_calls, strict=True)
        ]
        mean_curve = np.nanmean([c.figure(rank_set) for c in mine], axis=0)
        rises = mean_curve[1:] / mean_curve[:-1] - 1
        runs = [variant_run(r, v.name) for r in range(bench.replicates)]
        metrics = [store.metrics(run) for run in runs]
        sigma = []
        for loop in range(1, loops + 1):
            values = [
                s
                for m in metrics
                for x in m
                if x.loop == loop
                for s in x.selected_sigma
            ]
            sigma.append(float(np.mean(values)) if values else math.nan)
        own_labels += sum(c.labels[-1] - c.labels[0] for c in mine)
        force_rms, n_starts = _selected_frames(store, runs)
        selection = v.selection.get("rule", "max_sigma")
        summaries.append(
            VariantSummary(
                variant=v.name,
                scheme=v.scheme_name,
                rule=selection,
                replicates=bench.replicates,
                final_force_rmse=[c.figure(rank_set)[-1] for c in mine],
                final_gentle_force_rmse=[c.figure("gentle")[-1] for c in mine],
                final_energy_rmse=[
                    c.figure(rank_set, "energy_rmse_meV_atom")[-1] for c in mine
                ],
                final_labels=[c.labels[-1] for c in mine],
                calls_to_target=calls,
                ratio_to_reference=ratios,
                mean_error_over_budget=[
                    mean_over_budget(c.labels, c.figure(rank_set)) for c in mine
                ],
                largest_rise=float(np.max(rises)) if len(rises) else 0.0,
                oracle_failures=sum(
                    store.count(run=run, oracle_status=OracleStatus.FAILED.value)
                    for run in runs
                ),
                skipped=sum(m.n_skipped for ms in metrics for m in ms),
                redundant=sum(m.n_redundant for ms in metrics for m in ms),
                selected_sigma=sigma,
                sigma_rank=[_sigma_rank(c.final[-1]) for c in mine],
                selected_force_rms=force_rms,
                selected_starts=n_starts,
            )
        )
    shared = sum(store.oracle_calls(run=shared_run(r)) for r in range(bench.replicates))
    return BenchmarkResults(
        curves=list(curves.values()),
        summaries=summaries,
        targets=targets,
        total_oracle_calls=store.oracle_calls(),
        own_training_labels=own_labels,
        shared_labels=shared,
        reference=bench.reference,
        rank_set=rank_set,
    )
