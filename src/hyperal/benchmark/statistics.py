"""Statistics for comparing exploration schemes over replicates.

Replicates of a benchmark share everything but the scheme — the starts, the
seeds, the first committee, the test sets — so two variants are compared
*paired*: per replicate, the difference of their errors. What this module
gives, for a list of such differences:

- the mean difference with a two-sided Student-t interval (sample standard
  deviation, ``ddof = 1``; exact when the differences are normal, close for
  a few replicates otherwise), and the paired t-test's p-value;
- Holm's step-down correction of p-values across the comparisons made
  (Holm, Scand. J. Stat. 6, 65, 1979), which controls the family-wise error
  rate without assuming independence;
- the smallest effect the design detects (two-sided level α, power 1 − β, the
  observed paired spread) and how many replicates would detect a given one;
- calls-to-target as right-censored data: a replicate that never reaches the
  target is "beyond the budget", not dropped.

Verdicts follow from these numbers only: *better* or *worse* when the
Holm-corrected p-value is below α, else *no detectable difference* with the
smallest detectable effect.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

#: Two-sided level of every interval and test.
ALPHA = 0.05
#: Power at which the smallest detectable effect is stated.
POWER = 0.8


@contextmanager
def _quiet():
    """Silence scipy's note that a survival band is undefined where the
    survival is 0 (read as 0 here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _finite(values: Sequence[float | None]) -> np.ndarray:
    return np.array(
        [v for v in values if v is not None and math.isfinite(v)], dtype=float
    )


def sample_std(values: Sequence[float | None]) -> float:
    """Sample standard deviation (``ddof = 1``) of the finite values; NaN
    with fewer than two."""
    x = _finite(values)
    return float(np.std(x, ddof=1)) if len(x) > 1 else math.nan


@dataclass(frozen=True)
class Interval:
    """Mean of paired differences with its two-sided t interval."""

    n: int
    mean: float
    sd: float  # sample standard deviation of the differences (ddof = 1)
    low: float
    high: float
    p: float  # paired t-test, two-sided

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low)


def t_interval(differences: Sequence[float], level: float = 1 - ALPHA) -> Interval:
    """Mean of ``differences`` with its Student-t interval at ``level`` and
    the two-sided p-value of "mean = 0". With one difference there is no
    spread: the bounds and p are NaN; with zero spread the interval is the
    point and p is 0 (a nonzero mean) or 1."""
    d = _finite(differences)
    n = len(d)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    mean = float(d.mean())
    if n < 2:
        return Interval(1, mean, math.nan, math.nan, math.nan, math.nan)
    sd = float(d.std(ddof=1))
    if sd == 0:
        return Interval(n, mean, 0.0, mean, mean, 0.0 if mean != 0 else 1.0)
    se = sd / math.sqrt(n)
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))
    t = mean / se
    p = float(2 * stats.t.sf(abs(t), n - 1))
    return Interval(n, mean, sd, mean - q * se, mean + q * se, p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order: the k-th smallest of m
    is multiplied by m − k + 1, then made non-decreasing in that order and
    capped at 1. NaN p-values (no test) stay NaN and do not count in m."""
    p = np.asarray(pvalues, dtype=float)
    valid = np.flatnonzero(np.isfinite(p))
    out = np.full(len(p), math.nan)
    m = len(valid)
    running = 0.0
    for rank, i in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def sign_flip_p(
    differences: Sequence[float],
    *,
    exact_up_to: int = 20,
    draws: int = 200_000,
    seed: int = 0,
) -> float:
    """Two-sided p-value of "mean = 0" by the paired sign-flip (permutation)
    test (Fisher 1935; Good, *Permutation Tests*, 2000): under the null each
    difference is as likely negative as positive, so the p-value is the share
    of the 2ⁿ sign assignments whose |mean| is at least the observed one.
    Exact (every assignment) up to ``exact_up_to`` differences, else
    ``draws`` seeded random assignments (the observed one counted, so p > 0).
    Distribution-free; its smallest value is 2/2ⁿ — 4 replicates can never
    reach p < 0.125, 8 never below 0.0078. NaN without differences."""
    d = _finite(differences)
    n = len(d)
    if n == 0:
        return math.nan
    observed = abs(d.sum()) * (1 - 1e-12)  # ties count as extreme
    if n <= exact_up_to:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        return float(np.mean(np.abs(signs @ d) >= observed))
    rng = np.random.default_rng(seed)
    hits = 1  # the observed assignment
    for chunk in np.array_split(np.arange(draws), max(1, draws // 20_000)):
        signs = rng.choice((-1.0, 1.0), size=(len(chunk), n))
        hits += int(np.sum(np.abs(signs @ d) >= observed))
    return hits / (draws + 1)


def two_way_bootstrap(
    statistic,
    replicates: int,
    strata: Sequence[int],
    *,
    draws: int = 2000,
    level: float = 1 - ALPHA,
    seed: int = 0,
) -> tuple[float, float]:
    """Interval of ``statistic`` under the two-way (pigeonhole) bootstrap
    of a replicate × test-structure design (Owen, Ann. Appl. Stat. 1, 2007;
    Davison & Hinkley 1997 §3.8): each draw resamples the replicates with
    replacement and, independently, the test structures within each stratum
    (the same structures for every replicate and variant, as in the design),
    so the interval covers what another set of seeds *and* another draw of
    test structures from the same strata would give.

    The percentile interval, widened about the estimate by t_{R−1}/z (R
    replicates; Hesterberg, Am. Stat. 69, 371, 2015): a plain percentile
    interval from 12 replicates covers 91–94 % at 95 %; widened, 93–96 % over
    the variance mixes of ``tests/benchmark/test_statistics.py``.

    ``statistic(rep, structures)`` takes a batch of draws — ``rep`` a
    (draws, replicates) array of replicate indices and ``structures`` one
    (draws, n_s) array of positions within each stratum — and returns one
    value per draw. NaN bounds when a value is not finite."""
    if replicates < 2 or not strata or min(strata) < 1:
        raise ValueError(
            f"need replicates >= 2 and strata of >= 1 structure, got "
            f"{replicates} and {list(strata)}"
        )
    rng = np.random.default_rng(seed)
    rep = rng.integers(replicates, size=(draws + 1, replicates))
    structures = [rng.integers(n, size=(draws + 1, n)) for n in strata]
    rep[0] = np.arange(replicates)  # draw 0: the data as they are
    for positions, n in zip(structures, strata, strict=True):
        positions[0] = np.arange(n)
    values = np.asarray(statistic(rep, structures), dtype=float)
    if values.shape != (draws + 1,):
        raise ValueError(f"statistic must give {draws + 1} values, got {values.shape}")
    if not np.all(np.isfinite(values)):
        return math.nan, math.nan
    estimate, values = values[0], values[1:]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    widen = stats.t.ppf(0.5 + level / 2, replicates - 1) / stats.norm.ppf(
        0.5 + level / 2
    )
    return (
        float(estimate - widen * (estimate - low)),
        float(estimate + widen * (high - estimate)),
    )


def smallest_detectable(
    sd: float, n: int, alpha: float = ALPHA, power: float = POWER
) -> float:
    """The smallest true mean difference a two-sided paired t-test at level
    ``alpha`` detects with probability ``power``, for ``n`` replicates whose
    differences spread by ``sd``: (t_{1−α/2} + t_{power}) · sd / √n, ν = n − 1
    (the usual normal-approximation formula with t quantiles)."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    q = stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)
    return float(q * sd / math.sqrt(n))


def replicates_needed(
    sd: float,
    effect: float,
    alpha: float = ALPHA,
    power: float = POWER,
    limit: int = 100_000,
) -> int | None:
    """The fewest paired replicates whose :func:`smallest_detectable` effect
    is at most ``effect``; 2 when the spread is zero, None beyond ``limit``
    or when the spread is unknown."""
    if not math.isfinite(sd) or not effect > 0:
        return None
    if sd == 0:
        return 2
    n = 2
    while smallest_detectable(sd, n, alpha, power) > effect:
        n += 1
        if n > limit:
            return None
    return n


@dataclass(frozen=True)
class Censored:
    """Calls-to-target ratios over replicates, some beyond the budget.

    ``ratios[i]`` is the variant's calls to the target over the reference's
    in replicate i, or None when the variant never reached it (censored: the
    ratio exceeds ``bounds[i]``, its budget over the reference's calls)."""

    ratios: tuple[float | None, ...]
    bounds: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.ratios)

    @property
    def reached(self) -> int:
        return sum(r is not None for r in self.ratios)

    def survival(self):
        """The Kaplan–Meier estimate of P(ratio > t) (Kaplan & Meier, JASA
        53, 457, 1958): a censored replicate is at risk up to its bound and
        leaves without an event. ``scipy.stats.ecdf`` on right-censored data."""
        reached = [r for r in self.ratios if r is not None]
        censored = [
            b for r, b in zip(self.ratios, self.bounds, strict=True) if r is None
        ]
        return stats.ecdf(stats.CensoredData(uncensored=reached, right=censored)).sf

    @property
    def median(self) -> tuple[float, bool]:
        """The Kaplan–Meier median ratio: (value, is_lower_bound).

        The smallest ratio at which the estimated survival P(ratio > t) is at
        most ½; where the survival is exactly ½ from a ratio t₁ to the next
        reached ratio t₂, their midpoint (the ordinary median of an even
        count, R's ``survfit`` convention). When the survival stays above ½
        over every observed ratio, or is exactly ½ up to censored replicates
        only, the median is not observed: the value is then a lower bound —
        the last observed ratio, or the midpoint of t₁ and the smallest bound
        beyond it."""
        if not self.n:
            return math.nan, False
        if not self.reached:
            return max(self.bounds), True
        sf = self.survival()
        times, survival = sf.quantiles, sf.probabilities
        half = np.flatnonzero(survival <= 0.5 + 1e-12)
        if not half.size:
            return float(times[-1]), True
        i = int(half[0])
        if survival[i] < 0.5 - 1e-12:
            return float(times[i]), False
        events = np.flatnonzero(survival[i + 1 :] < survival[i] - 1e-12)
        if events.size:  # flat at ½ up to the next reached ratio
            return 0.5 * float(times[i] + times[i + 1 + events[0]]), False
        beyond = [b for b in self.bounds if b > times[i]]
        return 0.5 * float(times[i] + min(beyond, default=times[i])), True

    def median_interval(self, level: float = 1 - ALPHA) -> tuple[float, float]:
        """The interval of the Kaplan–Meier median at ``level``, by inverting
        the pointwise log–log interval of the survival (Brookmeyer & Crowley,
        Biometrics 38, 29, 1982, as R's ``survfit`` does): from the first
        ratio where the band's lower edge is at most ½ to the first where its
        upper edge is; ``inf`` when that is never observed (NaN, inf when
        nothing was reached)."""
        if not self.reached:
            return math.nan, math.inf
        sf = self.survival()
        with np.errstate(all="ignore"), _quiet():
            band = sf.confidence_interval(level, method="log-log")
        times, survival = sf.quantiles, sf.probabilities

        def first(bound) -> float:
            # undefined where the survival is 0 or 1: the band is the point
            values = np.where(
                np.isnan(bound.probabilities), survival, bound.probabilities
            )
            below = np.flatnonzero(values <= 0.5)
            return float(times[below[0]]) if below.size else math.inf

        return first(band.low), first(band.high)

    @property
    def restricted_mean(self) -> tuple[float, bool]:
        """The mean ratio with each censored replicate at its bound — a
        lower bound of the true mean when any is censored: (value,
        is_lower_bound)."""
        if not self.n:
            return math.nan, False
        values = [
            b if r is None else r for r, b in zip(self.ratios, self.bounds, strict=True)
        ]
        return float(np.mean(values)), self.reached < self.n

    def text(self) -> str:
        if not self.n:
            return "–"
        median, bound = self.median
        low, high = self.median_interval()
        mean, mean_bound = self.restricted_mean
        return (
            f"KM median {'> ' if bound else ''}{median:.2f}× [{low:.2f}, "
            f"{high:.2f}], mean "
            f"{'≥ ' if mean_bound else ''}{mean:.2f}× ({self.reached}/{self.n} "
            "reached)"
        )


@dataclass(frozen=True)
class Comparison:
    """One variant against another on one figure, paired over replicates.

    ``differences`` are variant − other per replicate (meV/Å: negative is a
    lower error); ``other_mean`` is the other's mean, the scale of the
    relative figures."""

    variant: str
    other: str
    role: str  # "reference" or "control"
    metric: str  # "final" or "over budget"
    differences: tuple[float, ...]
    other_mean: float
    interval: Interval
    p_holm: float = math.nan
    alpha: float = ALPHA

    @property
    def detectable(self) -> float:
        """Smallest detectable difference (meV/Å) at this design's power."""
        return smallest_detectable(self.interval.sd, self.interval.n, self.alpha)

    @property
    def needed_for_10_percent(self) -> int | None:
        """Replicates that would detect a 10 % difference (of the other's
        mean) at the observed paired spread."""
        return replicates_needed(self.interval.sd, 0.1 * abs(self.other_mean))

    def percent(self, value: float) -> float:
        return 100 * value / self.other_mean if self.other_mean else math.nan

    @property
    def verdict(self) -> str:
        """In words, from the Holm-corrected test and the interval."""
        i = self.interval
        if i.n < 2:
            return "one replicate: no interval, no verdict"
        if i.sd == 0 and i.mean == 0:
            return "identical in every replicate"
        if math.isfinite(self.p_holm) and self.p_holm < self.alpha:
            return "better" if i.mean < 0 else "worse"
        return (
            "no detectable difference (smallest detectable effect "
            f"{abs(self.percent(self.detectable)):.0f} %)"
        )

    def text(self) -> str:
        i = self.interval
        if i.n < 2:
            return (
                f"{self.variant} vs {self.other} ({self.metric}): "
                f"{i.mean:+.1f} meV/Å ({self.percent(i.mean):+.1f} %); {self.verdict}"
            )
        needed = self.needed_for_10_percent
        return (
            f"{self.variant} vs {self.other} ({self.metric}): "
            f"{i.mean:+.1f} meV/Å [{i.low:+.1f}, {i.high:+.1f}] "
            f"({self.percent(i.mean):+.1f} % [{self.percent(i.low):+.1f}, "
            f"{self.percent(i.high):+.1f}]), p_Holm {self.p_holm:.3g} → "
            f"{self.verdict}; replicates for 10 %: "
            f"{needed if needed is not None else '–'}"
        )


def compare(
    variant: str,
    other: str,
    role: str,
    metric: str,
    mine: Sequence[float],
    theirs: Sequence[float],
) -> Comparison:
    """Paired comparison of per-replicate values ``mine`` and ``theirs``
    (same replicate order); a replicate missing either value is left out."""
    pairs = [
        (a, b)
        for a, b in zip(mine, theirs, strict=True)
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
    ]
    differences = tuple(a - b for a, b in pairs)
    other_mean = float(np.mean([b for _, b in pairs])) if pairs else math.nan
    return Comparison(
        variant, other, role, metric, differences, other_mean, t_interval(differences)
    )


def with_holm(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The comparisons with Holm-adjusted p-values, one family per metric
    (every comparison of that figure made in the benchmark)."""
    out = list(comparisons)
    for metric in {c.metric for c in out}:
        family = [k for k, c in enumerate(out) if c.metric == metric]
        adjusted = holm([out[k].interval.p for k in family])
        for k, p in zip(family, adjusted, strict=True):
            out[k] = replace(out[k], p_holm=p)
    return out
