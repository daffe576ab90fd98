"""Is the committee's uncertainty calibrated? (docs/method.md §6)

The committee's spread σ drives every choice of a campaign — which frame to
label, how hard to push — so it is checked against the true errors on the
labelled test sets:

- the **rank correlation** (Spearman) of σ and the absolute error: does a
  larger σ mean a larger error?
- the **calibration curve**: the structures sorted by σ into equal-count
  bins, each bin's root-mean-square σ against the RMSE observed there (on
  the diagonal when σ is a calibrated standard deviation);
- the **miscalibration area** (Kuleshov et al., ICML 2018; Tran et al.,
  Mach. Learn.: Sci. Technol. 1, 025006 (2020)): reading σ as the standard
  deviation of a centred normal error, the share of errors within each
  central interval against the interval's nominal probability, integrated
  |observed − expected| over (0, 1): 0 for a calibrated σ, up to 0.5;
- a **conformal scale factor** (split conformal prediction, Vovk et al.,
  *Algorithmic Learning in a Random World* (2005); Angelopoulos & Bates,
  arXiv:2107.07511): q, the ⌈(n+1)(1−α)⌉-th smallest of the scores |e|/σ on
  a calibration set of n structures, so that |e| ≤ q·σ holds for a new
  structure with probability at least 1 − α when calibration and new
  structures are exchangeable. Its coverage is then measured on a held-out
  half.

A structure's force uncertainty and force error are per-atom quantities
aggregated over its atoms (:data:`AGGREGATES`: the largest by default, as a
frame is as wrong as its worst atom); the energy uses σ_U per atom and the
energy error per atom.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats

from hyperal.metrics import uncertainty_rank_correlation

#: A miscalibration area above this flags σ (a normal σ off by a factor of
#: 2 either way gives about 0.2; a calibrated one on 100 structures < 0.05).
AREA_LIMIT = 0.15

#: How per-atom values become one value per structure.
AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "max": lambda v: float(np.max(v)),
    "mean": lambda v: float(np.mean(v)),
    "p95": lambda v: float(np.percentile(v, 95)),
}


def aggregate(per_atom: np.ndarray, how: str = "max") -> float:
    """One value of a structure from its per-atom values (``how`` one of
    :data:`AGGREGATES`)."""
    if how not in AGGREGATES:
        raise ValueError(
            f"aggregate must be one of {', '.join(AGGREGATES)}, got {how!r}"
        )
    values = np.asarray(per_atom, dtype=float)
    if values.size == 0:
        raise ValueError("a structure with no atoms has nothing to aggregate")
    return AGGREGATES[how](values)


def _pair(sigma: Sequence[float], error: Sequence[float]):
    s = np.asarray(sigma, dtype=float).ravel()
    e = np.abs(np.asarray(error, dtype=float).ravel())
    if s.shape != e.shape:
        raise ValueError(f"{s.size} uncertainties for {e.size} errors")
    if s.size == 0:
        raise ValueError("no structures to calibrate on")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(e))):
        raise ValueError("uncertainties and errors must be finite")
    if np.any(s < 0):
        raise ValueError("uncertainties must be >= 0")
    return s, e


def _scores(s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """|e|/σ per structure: ∞ where σ = 0 < |e|, 0 where both are 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, e / np.where(s > 0, s, 1), np.where(e > 0, np.inf, 0))


def rank_correlation(sigma: Sequence[float], error: Sequence[float]) -> float | None:
    """Spearman's ρ of σ and |error| (:func:`hyperal.metrics.
    uncertainty_rank_correlation`); None when either is constant (or fewer
    than 3 structures): no ranking to compare."""

    rho = uncertainty_rank_correlation(*_pair(sigma, error))
    return None if math.isnan(rho) else rho


def calibration_curve(
    sigma: Sequence[float], error: Sequence[float], bins: int = 10
) -> tuple[list[float], list[float], list[int]]:
    """Structures sorted by σ into ``bins`` bins of (nearly) equal count:
    per bin the RMS σ, the RMSE of the errors and the count."""
    s, e = _pair(sigma, error)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    order = np.argsort(s, kind="stable")
    groups = [g for g in np.array_split(order, min(int(bins), s.size)) if g.size]
    return (
        [float(np.sqrt(np.mean(s[g] ** 2))) for g in groups],
        [float(np.sqrt(np.mean(e[g] ** 2))) for g in groups],
        [int(g.size) for g in groups],
    )


def miscalibration_area(
    sigma: Sequence[float], error: Sequence[float], points: int = 99
) -> float:
    """Area between the observed and the expected share of errors inside
    central normal intervals ±z_p·σ, p over (0, 1) (0 = calibrated, at
    most 0.5). Structures with σ = 0 count as outside every interval unless
    their error is 0."""
    s, e = _pair(sigma, error)
    expected = np.linspace(0, 1, points + 2)[1:-1]
    z = stats.norm.ppf(0.5 + expected / 2)
    score = _scores(s, e)
    observed = np.array([np.mean(score <= zi) for zi in z])
    return float(np.trapezoid(np.abs(observed - expected), expected))


def conformal_factor(
    sigma: Sequence[float], error: Sequence[float], alpha: float = 0.05
) -> float:
    """Split-conformal scale q: |e| ≤ q·σ covers a new exchangeable
    structure with probability ≥ 1 − ``alpha``; ``inf`` when the
    calibration set is too small for that level (n < 1/α − 1)."""
    s, e = _pair(sigma, error)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    scores = _scores(s, e)
    n = scores.size
    k = math.ceil((n + 1) * (1 - alpha))
    if k > n:
        return math.inf
    return float(np.sort(scores)[k - 1])


def coverage(sigma: Sequence[float], error: Sequence[float], factor: float) -> float:
    """The share of errors inside ±``factor``·σ (|e|/σ ≤ factor; an
    infinite factor covers everything)."""
    s, e = _pair(sigma, error)
    return float(np.mean(_scores(s, e) <= factor))


class Calibration(BaseModel):
    """σ against the true error of one quantity on one test set.

    ``factor`` is fitted on a seeded half of the structures (the calibration
    half) and its ``coverage`` measured on the other half (None when the
    factor is infinite: too few values for the level); the rank
    correlation, curve and area use every value. ``count`` values (one per
    structure, or per atom when ``aggregate`` is ``"atoms"``)."""

    model_config = ConfigDict(extra="forbid")

    quantity: str
    unit: str
    aggregate: str
    count: int
    rank_correlation: float | None
    curve_sigma: list[float]
    curve_rmse: list[float]
    curve_count: list[int]
    miscalibration_area: float
    alpha: float
    factor: float
    coverage: float | None
    held_out: int

    def flag(self) -> str:
        """Empty for a usable σ; else what is wrong with it: no spread at
        all, too few values, or — for a scalar quantity (energy) — a
        miscalibration area above :data:`AREA_LIMIT`: overconfident (errors
        larger than a normal σ allows: the factor exceeds the normal quantile
        of the level) or underconfident.

        The area compares |error|/σ with a scalar normal error. A force error
        is a per-atom vector (its norm follows a χ₃-like law) and a
        structure's value its largest over atoms, so a perfectly calibrated
        force σ scores about 0.13 per atom and 0.4 with the maximum: the area
        is shown for forces but flags nothing; their conformal factor and
        its held-out coverage say whether q·σ holds."""
        z = float(stats.norm.ppf(1 - self.alpha / 2))
        if not math.isfinite(self.factor) and max(self.curve_sigma) == 0:
            return "σ is zero everywhere: the members agree exactly (no uncertainty)"
        if not math.isfinite(self.factor):
            return (
                f"too few values to judge: a factor covering {1 - self.alpha:.0%} "
                f"needs at least {math.ceil(1 / self.alpha) - 1} in the "
                f"calibration half (here {self.count - self.held_out})"
            )
        if self.quantity != "energy" or self.miscalibration_area <= AREA_LIMIT:
            return ""
        if self.factor > z:
            return (
                f"overconfident: errors exceed σ (miscalibration area "
                f"{self.miscalibration_area:.2f}; σ must be scaled by "
                f"{self.factor:.3g} to cover {1 - self.alpha:.0%}, {z:.2f} for a "
                "normal error)"
            )
        return (
            f"underconfident: σ exceeds the errors (miscalibration area "
            f"{self.miscalibration_area:.2f}; scale {self.factor:.3g})"
        )


def calibrate(
    sigma: Sequence[float],
    error: Sequence[float],
    *,
    quantity: str,
    unit: str,
    aggregate: str = "max",
    alpha: float = 0.05,
    bins: int = 10,
    seed: int = 0,
    groups: Sequence[int] | None = None,
) -> Calibration:
    """Every calibration figure of one quantity: the conformal factor from a
    seeded half of the structures, its coverage on the other half (None
    with fewer than 2 structures). With ``groups`` (the structure of each
    value, e.g. for one value per atom) the halves are split by structure,
    so no structure informs both the factor and its check."""
    s, e = _pair(sigma, error)
    group = np.arange(s.size) if groups is None else np.asarray(groups)
    if group.shape != s.shape:
        raise ValueError(f"{group.size} group labels for {s.size} values")
    names = np.unique(group)
    order = np.random.default_rng(seed).permutation(names.size)
    chosen = np.isin(group, names[order[: (names.size + 1) // 2]])
    fit, held = np.flatnonzero(chosen), np.flatnonzero(~chosen)
    factor = conformal_factor(s[fit], e[fit], alpha)
    curve = calibration_curve(s, e, bins)
    return Calibration(
        quantity=quantity,
        unit=unit,
        aggregate=aggregate,
        count=int(s.size),
        rank_correlation=rank_correlation(s, e),
        curve_sigma=curve[0],
        curve_rmse=curve[1],
        curve_count=curve[2],
        miscalibration_area=miscalibration_area(s, e),
        alpha=float(alpha),
        factor=factor,
        coverage=(
            coverage(s[held], e[held], factor)
            if held.size and math.isfinite(factor)
            else None
        ),
        held_out=int(held.size),
    )
