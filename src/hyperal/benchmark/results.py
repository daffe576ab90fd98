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

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hyperal.benchmark.primary import PrimaryResult
from hyperal.benchmark.statistics import (
    Censored,
    Comparison,
    compare,
    sample_std,
    with_holm,
)
from hyperal.runs.results import ErrorSummary, FinalErrors
from hyperal.utils import write_csv


@dataclass(frozen=True)
class Curve:
    """One variant's learning curve in one replicate: per loop, the training
    labels so far and the errors on the final frozen sets."""

    variant: str
    replicate: int
    labels: list[int]
    final: list[FinalErrors]

    def figure(self, split: str, key: str = "force_rmse_meV_A") -> list[float]:
        return [figure(f, split, key) for f in self.final]


#: How a union's figure combines its members' (weighted by atoms or by
#: structures); other figures (medians, percentiles) do not combine.
_COMBINE = {
    "force_rmse_meV_A": ("atoms", 2),
    "force_mae_meV_A": ("atoms", 1),
    "angle_mae_deg": ("atoms", 1),
    "energy_rmse_meV_atom": ("structures", 2),
    "energy_mae_meV_atom": ("structures", 1),
}


def figure(final: FinalErrors, split: str, key: str = "force_rmse_meV_A") -> float:
    """One figure of one checkpoint on the frozen set ``split`` — or, for a
    union ``a+b`` of sets, combined exactly from the members' figures: an
    RMSE as the root of the atom- (or structure-) weighted mean square, an
    MAE as the weighted mean. NaN when not evaluated or not combinable."""
    names = split.split("+")
    if len(names) == 1:
        errors = final.errors(split)
        return getattr(errors, key) if errors else math.nan
    if key not in _COMBINE or any(n not in final.tests for n in names):
        return math.nan
    weight, power = _COMBINE[key]
    total = value = 0.0
    for name in names:
        errors = final.tests[name]
        w = sum(errors.parity.natoms) if weight == "atoms" else errors.all.count
        total += w
        value += w * getattr(errors.all, key) ** power
    return (value / total) ** (1 / power) if total else math.nan


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
    #: the variant's final training labels over the reference's calls to the
    #: target, per replicate: the bound of a censored ratio
    budget_ratio: list[float]
    mean_error_over_budget: list[float]
    largest_rise: float  # of the mean curve from one loop to the next
    oracle_failures: int
    skipped: int
    redundant: int
    selected_sigma: list[float] = field(default_factory=list)  # mean per loop
    #: Spearman ρ of σ_U per atom against |energy error| per structure of the
    #: last committee on the frozen sets (difficult and test file), per replicate
    sigma_rank: list[float] = field(default_factory=list)
    #: RMS per-atom oracle force norm sqrt(mean_i |F_i|²) of the labelled
    #: selected frames (eV/Å): how far from equilibrium the variant's labels lie
    selected_force_rms: float = math.nan
    #: selected frames that are the unevolved start of their trajectory
    selected_starts: int = 0

    @staticmethod
    def _mean(values) -> float:
        finite = [v for v in values if v is not None and math.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan

    @property
    def force_rmse(self) -> tuple[float, float]:
        """Mean and sample standard deviation (ddof = 1) over replicates."""
        return self._mean(self.final_force_rmse), sample_std(self.final_force_rmse)

    @property
    def to_target(self) -> Censored:
        """Calls to the target as a ratio to the reference's, per replicate,
        a replicate that never reached it censored at its budget."""
        kept = [
            (r, b)
            for r, b in zip(self.ratio_to_reference, self.budget_ratio, strict=True)
            if math.isfinite(b)  # NaN: the reference never reached the target
        ]
        return Censored(tuple(r for r, _ in kept), tuple(b for _, b in kept))


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
    control: str | None = None  # the random-selection control, when one runs
    #: paired comparisons of every variant with the reference and the control
    comparisons: list[Comparison] = field(default_factory=list)
    #: the verdict on the measure the file declared before the run
    primary: PrimaryResult | None = None

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
        """The ranking, calls to the target and the paired verdicts."""
        n = self.summaries[0].replicates
        lines = []
        if self.primary is not None:
            lines += [
                *self.primary.lines(),
                "",
                "EXPLORATORY: every figure below was not declared before the "
                "run; it describes, it does not confirm.",
                "",
            ]
        lines += [
            f"ranking by final force RMSE on the frozen {self.rank_set} set "
            f"(mean ± sample std over {n} replicate(s)); calls to reach "
            f"{self.reference}'s final error per replicate, as a ratio to "
            f"{self.reference}'s calls (a replicate that never reaches it is "
            "censored at its budget, not dropped):",
        ]
        for k, s in enumerate(self.ranking(), 1):
            mean, std = s.force_rmse
            lines.append(
                f"{k:2d}. {s.variant:<12} F {mean:7.1f} ± {std:5.1f} meV/Å   "
                f"labels {np.mean(s.final_labels):6.1f}   to target "
                f"{s.to_target.text()}   largest rise "
                f"{100 * s.largest_rise:+.0f} %   σ–error ρ "
                f"{s._mean(s.sigma_rank):.2f}   selected: RMS |F_i| "
                f"{s.selected_force_rms:.2f} eV/Å, {s.selected_starts} starts"
            )
        lines.append(
            f"oracle calls: {self.total_oracle_calls} made for "
            f"{self.own_training_labels} variant training labels + "
            f"{self.shared_labels} shared (ratio {self.cost_ratio:.3f})"
        )
        if self.comparisons:
            lines += ["", *self.verdict_lines()]
        if self.primary is not None:
            lines += ["", *self.primary.stratum_lines()]
        return "\n".join(lines)

    def verdict_lines(self) -> list[str]:
        """Paired comparisons, one line each: variant − other on the
        {rank_set} force RMSE, mean difference with its 95 % t interval
        (ddof = 1) over replicates, in meV/Å and % of the other's mean,
        Holm-corrected p-value (per figure, across all comparisons made) and
        the verdict that follows."""
        n = self.summaries[0].replicates
        lines = [
            f"paired comparisons on the {self.rank_set} force RMSE ({n} "
            "replicates; each variant against the reference and the control, "
            "each biased one against its twin; variant − other, negative = "
            "lower error; 95 % "
            "Student-t interval, sample SD; p paired t-test, Holm-corrected "
            "over every comparison of the same figure; smallest detectable "
            "effect at 80 % power; 'final' = last committee, 'over budget' = "
            "mean error over the labelling budget):"
        ]
        for c in self.comparisons:
            lines.append("  " + c.text())
        return lines

    def write_csv(self, folder: str | Path) -> list[Path]:
        """``curves.csv`` (one row per variant, replicate, loop, test set and
        structure type), ``summary.csv`` (one row per variant) and
        ``comparisons.csv`` (one row per paired comparison) and, when the
        file declared one, ``primary.csv`` (the primary verdict)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = [
            write_csv(folder / "curves.csv", *self.curve_table()),
            write_csv(folder / "summary.csv", *self.summary_table()),
            write_csv(folder / "comparisons.csv", *self.comparison_table()),
        ]
        if self.primary is not None:
            written.append(write_csv(folder / "primary.csv", *self.primary.table()))
        return written

    def curve_table(self) -> tuple[list[str], list[list]]:
        """Header and rows of ``curves.csv``."""
        keys = list(ErrorSummary.model_fields)
        header = ["variant", "replicate", "loop", "training_labels", "test_set"]
        header += ["type", *keys]
        rows = [
            [c.variant, c.replicate, final.loop, labels, name, kind]
            + [getattr(summary, k) for k in keys]
            for c in self.curves
            for labels, final in zip(c.labels, c.final, strict=True)
            for name, errors in final.tests.items()
            for kind, summary in {"all": errors.all, **errors.by_source}.items()
        ]
        return header, rows

    def summary_table(self) -> tuple[list[str], list[list]]:
        """Header and rows of ``summary.csv``, in ranking order."""
        header = [
            "variant",
            "scheme",
            "rule",
            "force_rmse_mean_meV_A",
            "force_rmse_std_meV_A",
            "gentle_force_rmse_mean_meV_A",
            "energy_rmse_mean_meV_atom",
            "training_labels_mean",
            "calls_ratio_median",
            "calls_ratio_median_is_lower_bound",
            "calls_ratio_restricted_mean",
            "calls_ratio_mean_is_lower_bound",
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
        rows = []
        for s in self.ranking():
            median, median_bound = s.to_target.median
            mean, mean_bound = s.to_target.restricted_mean
            rows.append(
                [
                    s.variant,
                    s.scheme,
                    s.rule,
                    *s.force_rmse,
                    s._mean(s.final_gentle_force_rmse),
                    s._mean(s.final_energy_rmse),
                    np.mean(s.final_labels),
                    median,
                    median_bound,
                    mean,
                    mean_bound,
                    s.to_target.reached,
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
        return header, rows

    def comparison_table(self) -> tuple[list[str], list[list]]:
        """Header and rows of ``comparisons.csv``."""
        header = [
            "variant",
            "other",
            "role",
            "metric",
            "test_set",
            "replicates",
            "mean_difference_meV_A",
            "ci95_low_meV_A",
            "ci95_high_meV_A",
            "sd_difference_meV_A",
            "other_mean_meV_A",
            "p",
            "p_holm",
            "smallest_detectable_meV_A",
            "replicates_for_10_percent",
            "verdict",
            "differences_meV_A",
        ]
        rows = [
            [
                c.variant,
                c.other,
                c.role,
                c.metric,
                self.rank_set,
                c.interval.n,
                c.interval.mean,
                c.interval.low,
                c.interval.high,
                c.interval.sd,
                c.other_mean,
                c.interval.p,
                c.p_holm,
                c.detectable,
                c.needed_for_10_percent,
                c.verdict,
                " ".join(f"{d:.6g}" for d in c.differences),
            ]
            for c in self.comparisons
        ]
        return header, rows


def paired_comparisons(
    summaries: list[VariantSummary], reference: str, control: str | None
) -> list[Comparison]:
    """Every variant against the reference and against the control (the
    random-selection variant), and every biased variant against its unbiased
    twin (the plain scheme of its family with the same selection rule, when
    it runs and is not the reference), on the final error and on the mean
    error over the budget, paired by replicate; Holm-corrected per figure."""
    by_name = {s.variant: s for s in summaries}
    twins = {}  # a biased variant's unbiased twin: the first plain variant of
    for s in summaries:  # its family with the same selection rule
        if s.scheme.startswith("advb_"):
            twins[s.variant] = next(
                (
                    t.variant
                    for t in summaries
                    if t.scheme == s.scheme.removeprefix("advb_") and t.rule == s.rule
                ),
                None,
            )
    figures = {
        "final": lambda s: s.final_force_rmse,
        "over budget": lambda s: s.mean_error_over_budget,
    }
    out = []
    for role, other in (("reference", reference), ("control", control)):
        if other is None:
            continue
        for s in summaries:
            if s.variant == other or (role == "control" and s.variant == reference):
                continue  # the reference vs the control is made once, above
            for metric, values in figures.items():
                out.append(
                    compare(
                        s.variant,
                        other,
                        role,
                        metric,
                        values(s),
                        values(by_name[other]),
                    )
                )
    for variant, twin in twins.items():
        if twin is None or twin == reference:  # vs the reference: made above
            continue
        for metric, values in figures.items():
            out.append(
                compare(
                    variant,
                    twin,
                    "twin",
                    metric,
                    values(by_name[variant]),
                    values(by_name[twin]),
                )
            )
    return with_holm(out)
