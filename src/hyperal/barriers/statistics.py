"""How well a committee's barriers match the oracle's: RMSE over hops with a
bootstrap interval, overall and per hop type and hopping species.

The interval is the percentile bootstrap over hops (Efron & Tibshirani, *An
Introduction to the Bootstrap*, 1993, ch. 13): the hops are resampled with
replacement, the RMSE recomputed, and the 2.5th and 97.5th percentiles of
those RMSEs taken. It says how much the figure would move with another draw
of the same number of random hops; with the few hops of a laptop run (5–12)
it is wide, and the percentile interval of so few tends to be too narrow
rather than too wide — read it as a lower bound on the uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

#: resamples of the bootstrap; seeded, so a figure is the same on every call
RESAMPLES = 2000


class BarrierErrors(BaseModel):
    """Barrier errors (committee − oracle) of a set of hops."""

    model_config = ConfigDict(extra="forbid")

    #: hops in the set, and of those the committee gave a barrier to trust
    hops: int
    found: int
    rmse_meV: float | None = None
    #: 95 % percentile-bootstrap interval of the RMSE over hops (meV)
    interval_meV: tuple[float, float] | None = None
    #: mean signed error (meV): below 0, the committee's barriers are low
    mean_error_meV: float | None = None


def rmse_interval(
    errors: Sequence[float], *, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """The percentile-bootstrap interval of the RMSE of ``errors`` (their
    unit), over :data:`RESAMPLES` resamples; None for fewer than two."""
    e = np.asarray(errors, float)
    if e.size < 2:
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, e.size, size=(RESAMPLES, e.size))
    rmse = np.sqrt(np.mean(e[picks] ** 2, axis=1))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(rmse, [tail, 100 - tail])
    return float(low), float(high)


def barrier_errors(
    oracle: Sequence[float], mlip: Sequence[float | None]
) -> BarrierErrors:
    """The errors of the hops whose committee barrier was found (``None``:
    the committee's search gave none to trust), in meV from eV."""
    errors = [1e3 * (m - o) for o, m in zip(oracle, mlip, strict=True) if m is not None]
    if not errors:
        return BarrierErrors(hops=len(oracle), found=0)
    return BarrierErrors(
        hops=len(oracle),
        found=len(errors),
        rmse_meV=float(np.sqrt(np.mean(np.square(errors)))),
        interval_meV=rmse_interval(errors),
        mean_error_meV=float(np.mean(errors)),
    )


def barrier_errors_by(
    groups: Sequence[str], oracle: Sequence[float], mlip: Sequence[float | None]
) -> dict[str, BarrierErrors]:
    """:func:`barrier_errors` per group (e.g. ``"bcc-octahedral: O"``), in
    the groups' sorted order."""
    return {
        group: barrier_errors(
            [o for o, g in zip(oracle, groups, strict=True) if g == group],
            [m for m, g in zip(mlip, groups, strict=True) if g == group],
        )
        for group in sorted(set(groups))
    }


def paired_difference(
    oracle: Sequence[float],
    a: Sequence[float | None],
    b: Sequence[float | None],
    *,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float, int] | None:
    """RMSE(a) − RMSE(b) (meV, barriers in eV) of two committees' barriers of
    the same hops, over the hops both found: (difference, low, high, hops).
    The hops are resampled together (a paired bootstrap), so what the two
    share — the hops' own difficulty — cancels. None for fewer than two."""
    both = [k for k in range(len(oracle)) if a[k] is not None and b[k] is not None]
    if len(both) < 2:
        return None
    o = np.array([oracle[k] for k in both], float)
    ea = 1e3 * (np.array([a[k] for k in both], float) - o)
    eb = 1e3 * (np.array([b[k] for k in both], float) - o)
    picks = np.random.default_rng(seed).integers(0, len(both), (RESAMPLES, len(both)))

    def rmse(e, axis=None):
        return np.sqrt(np.mean(np.square(e), axis=axis))

    tail = 100 * (1 - level) / 2
    diffs = rmse(ea[picks], 1) - rmse(eb[picks], 1)
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return float(rmse(ea) - rmse(eb)), float(low), float(high), len(both)


def paired_text(oracle, a, b, *, hops: bool = False) -> str:
    """:func:`paired_difference` as ``"-34 [-45, -25]"`` (meV; with
    ``hops``, followed by ``" (12 hops)"``), ``"–"`` for fewer than two."""
    found = paired_difference(oracle, a, b)
    if found is None:
        return "–"
    diff, low, high, n = found
    return f"{diff:+.0f} [{low:+.0f}, {high:+.0f}]" + (f" ({n} hops)" if hops else "")


def interval_text(errors: BarrierErrors | None) -> str:
    """``"80 [55, 101]"`` (meV), ``"80"`` without an interval, ``"–"``."""
    if errors is None or errors.rmse_meV is None:
        return "–"
    if errors.interval_meV is None:
        return f"{errors.rmse_meV:.0f}"
    low, high = errors.interval_meV
    return f"{errors.rmse_meV:.0f} [{low:.0f}, {high:.0f}]"


__all__ = [
    "BarrierErrors",
    "barrier_errors",
    "barrier_errors_by",
    "interval_text",
    "paired_difference",
    "paired_text",
    "rmse_interval",
]
