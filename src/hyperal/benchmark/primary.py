"""The confirmatory verdict: the measure a benchmark file declared before its
run, on the test set it named, for the comparisons it listed.

Two measures, both from each final committee's per-structure force errors on
the named set (each structure's info['source'] its stratum):

- ``stratum_balanced``: the mean over strata of each stratum's force RMSE —
  every stratum weighted equally, so a stratum of a few very wrong structures
  cannot decide the verdict by itself, nor a large stratum drown the others.
  Per comparison: the paired difference (variant − other) over replicates
  with its Student-t interval, the exact sign-flip p (distribution-free;
  Holm-corrected over the declared comparisons: the verdict) and the two-way
  bootstrap interval over replicates *and* test structures (does the verdict
  hold for another draw of test structures?).
- ``worst_stratum``: per stratum the ratio of the variant's mean force RMSE
  to the other's, each with a two-way bootstrap interval at the Bonferroni
  level α / (strata × comparisons), so that all of them hold together; the
  figure is the largest ratio and the verdict reads the intervals ("no
  stratum worse by more than x %" is the largest upper bound).

The per-stratum differences (every comparison × stratum, Holm-corrected over
all of them) are printed beside it as exploratory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from hyperal.benchmark.statistics import (
    Interval,
    holm,
    sign_flip_p,
    t_interval,
    two_way_bootstrap,
)


@dataclass(frozen=True)
class StructureErrors:
    """One frozen set's per-structure force errors of every variant's final
    committee: ``sse[variant]`` is (replicates, structures) in eV²/Å²;
    ``components`` the force components of each structure; ``strata`` the
    positions of each stratum's structures."""

    sse: dict[str, np.ndarray]
    components: np.ndarray
    strata: dict[str, np.ndarray]

    @property
    def replicates(self) -> int:
        return next(iter(self.sse.values())).shape[0]

    def rmse(self, variant: str, rep=None, structures=None) -> np.ndarray:
        """Per-stratum force RMSE (meV/Å) of ``variant``: (replicates,
        strata) for the data as they are, or (draws, replicates, strata) for
        a batch of bootstrap draws (``rep`` (draws, R) and ``structures``, one
        (draws, n_s) array of positions per stratum)."""
        sse = self.sse[variant]
        single = rep is None
        if single:
            rep = np.arange(self.replicates)[None, :]
            structures = [np.arange(len(p))[None, :] for p in self.strata.values()]
        out = []
        for positions, idx in zip(self.strata.values(), structures, strict=True):
            cols = positions[idx]  # (draws, n_s)
            total = sse[rep[:, :, None], cols[:, None, :]].sum(axis=-1)
            count = self.components[cols].sum(axis=-1)[:, None]
            out.append(1e3 * np.sqrt(total / count))
        values = np.stack(out, axis=-1)
        return values[0] if single else values


def structure_errors(curves, test_set: str) -> StructureErrors:
    """The per-structure errors of every variant's last checkpoint on
    ``test_set``, from the benchmark's learning curves (replicates in
    order). A ValueError when the store has none (evaluated before they were
    kept) or the set's structures differ between runs."""
    by_variant: dict[str, list] = {}
    for curve in sorted(curves, key=lambda c: c.replicate):
        final = curve.final[-1]
        if test_set not in final.tests:
            raise ValueError(
                f"primary.test_set {test_set!r}: run {curve.variant} "
                f"(replicate {curve.replicate}) was not evaluated on it"
            )
        by_variant.setdefault(curve.variant, []).append(final.tests[test_set].parity)
    first = next(iter(by_variant.values()))[0]
    if len(first.force_sse) != len(first.natoms):
        raise ValueError(
            f"primary.test_set {test_set!r}: the store holds no per-structure "
            "force errors (evaluated by an older hyperal); evaluate again"
        )
    for parities in by_variant.values():
        for parity in parities:
            if parity.natoms != first.natoms or parity.source != first.source:
                raise ValueError(
                    f"primary.test_set {test_set!r}: the runs were evaluated on "
                    "different structures"
                )
    source = np.array(first.source)
    return StructureErrors(
        sse={
            v: np.array([p.force_sse for p in parities])
            for v, parities in by_variant.items()
        },
        components=3 * np.array(first.natoms, dtype=float),
        strata={s: np.flatnonzero(source == s) for s in sorted(set(first.source))},
    )


@dataclass(frozen=True)
class StratumRatio:
    """One stratum's ratio of force RMSEs (variant over other, means over
    replicates) with its simultaneous interval."""

    stratum: str
    ratio: float
    low: float
    high: float


@dataclass(frozen=True)
class PrimaryComparison:
    """One declared comparison on the primary measure."""

    variant: str
    other: str
    measure: str
    mine: tuple[float, ...]  # per replicate (stratum_balanced, meV/Å)
    theirs: tuple[float, ...]
    interval: Interval  # paired t over replicates
    p_sign: float  # exact sign-flip p over replicates
    p_holm: float  # Holm over the declared comparisons (sign-flip)
    bootstrap: tuple[float, float]  # two-way, replicates × test structures
    ratios: tuple[StratumRatio, ...] = ()  # worst_stratum
    alpha: float = 0.05

    @property
    def other_mean(self) -> float:
        return float(np.mean(self.theirs))

    def percent(self, value: float) -> float:
        return 100 * value / self.other_mean if self.other_mean else math.nan

    @property
    def worst(self) -> StratumRatio | None:
        return max(self.ratios, key=lambda r: r.ratio) if self.ratios else None

    @property
    def verdict(self) -> str:
        if self.measure == "worst_stratum":
            worse = [r.stratum for r in self.ratios if r.low > 1]
            if worse:
                return f"worse on {', '.join(worse)}"
            if all(r.high < 1 for r in self.ratios):
                return "better on every stratum"
            top = max(r.high for r in self.ratios)
            return f"on no stratum worse by more than {100 * (top - 1):.0f} %"
        if self.interval.n < 2 or not math.isfinite(self.p_holm):
            return "too few replicates for a verdict"
        if self.p_holm >= self.alpha:
            return "no detectable difference"
        word = "better" if self.interval.mean < 0 else "worse"
        low, high = self.bootstrap
        if low > 0 or high < 0:
            return f"{word}, also over test structures"
        return f"{word} on these test structures (the two-way interval holds 0)"

    def text(self) -> str:
        i = self.interval
        if self.measure == "worst_stratum":
            cells = ", ".join(
                f"{r.stratum} {r.ratio:.2f} [{r.low:.2f}, {r.high:.2f}]"
                for r in sorted(self.ratios, key=lambda r: -r.ratio)
            )
            return (
                f"{self.variant} vs {self.other}: per-stratum force RMSE ratio "
                f"(simultaneous intervals) {cells} → {self.verdict}"
            )
        low, high = self.bootstrap
        return (
            f"{self.variant} vs {self.other}: stratum-balanced force RMSE "
            f"{np.mean(self.mine):.1f} vs {self.other_mean:.1f} meV/Å, difference "
            f"{i.mean:+.1f} meV/Å ({self.percent(i.mean):+.1f} %); t interval "
            f"[{i.low:+.1f}, {i.high:+.1f}]; two-way bootstrap [{low:+.1f}, "
            f"{high:+.1f}]; sign-flip p {self.p_sign:.3g}, p_Holm "
            f"{self.p_holm:.3g} → {self.verdict}"
        )


@dataclass(frozen=True)
class StratumDifference:
    """Exploratory: one comparison on one stratum's force RMSE."""

    variant: str
    other: str
    stratum: str
    interval: Interval
    p_sign: float
    p_holm: float = math.nan


@dataclass(frozen=True)
class PrimaryResult:
    """The confirmatory verdict and the exploratory per-stratum table."""

    measure: str
    test_set: str
    alpha: float
    replicates: int
    strata: dict[str, int]  # structures per stratum
    comparisons: list[PrimaryComparison]
    per_stratum: list[StratumDifference] = field(default_factory=list)

    def lines(self) -> list[str]:
        sizes = ", ".join(f"{k} {n}" for k, n in self.strata.items())
        out = [
            f"PRIMARY (declared in the file): {self.measure} on {self.test_set} "
            f"({len(self.strata)} strata: {sizes}; {self.replicates} replicates; "
            f"family-wise α = {self.alpha:g} over {len(self.comparisons)} "
            "comparison(s)):"
        ]
        out += ["  " + c.text() for c in self.comparisons]
        return out

    def stratum_lines(self) -> list[str]:
        out = [
            f"exploratory: per-stratum force RMSE differences on {self.test_set} "
            "(meV/Å, variant − other; t interval; sign-flip p Holm-corrected over "
            f"all {len(self.per_stratum)} comparison × stratum pairs):"
        ]
        for d in self.per_stratum:
            i = d.interval
            flag = " *" if d.p_holm < self.alpha else ""
            out.append(
                f"  {d.variant} vs {d.other} [{d.stratum}]: {i.mean:+.1f} "
                f"[{i.low:+.1f}, {i.high:+.1f}], p_Holm {d.p_holm:.3g}{flag}"
            )
        return out

    def table(self) -> tuple[list[str], list[list]]:
        """Header and rows of ``primary.csv``: one row per comparison (and,
        for worst_stratum, per stratum)."""
        header = [
            "variant", "other", "measure", "test_set", "stratum", "mine_meV_A",
            "other_meV_A", "difference_meV_A", "t_low", "t_high", "bootstrap_low",
            "bootstrap_high", "ratio", "ratio_low", "ratio_high", "p_sign",
            "p_holm", "verdict",
        ]  # fmt: skip
        rows = []
        for c in self.comparisons:
            i = c.interval
            base = [c.variant, c.other, c.measure, self.test_set]
            rows.append(
                base
                + ["all", np.mean(c.mine), c.other_mean, i.mean, i.low, i.high]
                + [*c.bootstrap, math.nan, math.nan, math.nan]
                + [c.p_sign, c.p_holm, c.verdict]
            )
            for r in c.ratios:
                rows.append(
                    base
                    + [r.stratum] + [math.nan] * 7
                    + [r.ratio, r.low, r.high, math.nan, math.nan, ""]
                )  # fmt: skip
        return header, rows


def primary_result(
    errors: StructureErrors,
    pairs: list[tuple[str, str]],
    *,
    measure: str,
    test_set: str,
    alpha: float = 0.05,
    draws: int = 2000,
    seed: int = 0,
) -> PrimaryResult:
    """The declared comparisons ``pairs`` on ``measure``, and the
    exploratory per-stratum table."""
    sizes = [len(p) for p in errors.strata.values()]
    names = list(errors.strata)
    rmse = {v: errors.rmse(v) for v in errors.sse}  # (R, S)
    comparisons = []
    for variant, other in pairs:
        mine, theirs = rmse[variant].mean(axis=1), rmse[other].mean(axis=1)
        differences = mine - theirs

        def balanced(rep, structures, variant=variant, other=other):
            a = errors.rmse(variant, rep, structures).mean(axis=(1, 2))
            return a - errors.rmse(other, rep, structures).mean(axis=(1, 2))

        bootstrap = two_way_bootstrap(
            balanced, errors.replicates, sizes, draws=draws, level=1 - alpha,
            seed=seed,
        )  # fmt: skip
        ratios = ()
        if measure == "worst_stratum":
            level = 1 - alpha / (len(names) * len(pairs))
            ratios = tuple(
                _ratio(errors, variant, other, k, name, sizes, draws, level, seed)
                for k, name in enumerate(names)
            )
        comparisons.append(
            PrimaryComparison(
                variant,
                other,
                measure,
                tuple(mine),
                tuple(theirs),
                t_interval(differences, 1 - alpha),
                sign_flip_p(differences),
                math.nan,
                bootstrap,
                ratios,
                alpha,
            )  # fmt: skip
        )
    adjusted = holm([c.p_sign for c in comparisons])
    comparisons = [
        replace(c, p_holm=p) for c, p in zip(comparisons, adjusted, strict=True)
    ]
    per_stratum = [
        StratumDifference(
            variant,
            other,
            name,
            t_interval(rmse[variant][:, k] - rmse[other][:, k]),
            sign_flip_p(rmse[variant][:, k] - rmse[other][:, k]),
        )  # fmt: skip
        for variant, other in pairs
        for k, name in enumerate(names)
    ]
    adjusted = holm([d.p_sign for d in per_stratum])
    per_stratum = [
        replace(d, p_holm=p) for d, p in zip(per_stratum, adjusted, strict=True)
    ]
    strata = dict(zip(names, sizes, strict=True))
    return PrimaryResult(
        measure, test_set, alpha, errors.replicates, strata, comparisons,
        per_stratum,
    )  # fmt: skip


def _ratio(errors, variant, other, k, name, sizes, draws, level, seed) -> StratumRatio:
    def ratio(rep, structures):
        a = errors.rmse(variant, rep, structures)[..., k].mean(axis=1)
        return a / errors.rmse(other, rep, structures)[..., k].mean(axis=1)

    point = errors.rmse(variant)[:, k].mean() / errors.rmse(other)[:, k].mean()
    low, high = two_way_bootstrap(
        ratio, errors.replicates, sizes, draws=draws, level=level, seed=seed
    )
    return StratumRatio(name, float(point), low, high)
