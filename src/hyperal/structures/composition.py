"""Composition sampling biased toward equimolar alloys (docs/method.md §1.5).

MPEA properties are studied near equimolar compositions, but a robust potential
must also see the rest of composition space: about ``near_equimolar_per_random``
(4) near-equimolar compositions are drawn for each fully random one. Near
equimolar: Dirichlet(κ·1) with a large concentration κ (default 30: each
fraction within about ±0.1 of 1/n for three elements); fully random: the flat
Dirichlet(1), uniform on the simplex. Interstitial species (e.g. O in NbTiZr)
get a content drawn uniformly from their range, and the host fractions are
scaled to fill the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hyperal.utils import as_rng


def _check_probability_range(name: str, bounds) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {bounds!r}") from None
    if not (0.0 <= lo <= hi < 1.0):
        raise ValueError(f"{name} must satisfy 0 <= low <= high < 1, got {bounds!r}")
    return lo, hi


def sample_compositions(
    elements: Sequence[str],
    n: int,
    *,
    interstitials: Mapping[str, tuple[float, float]] | None = None,
    near_equimolar_per_random: float = 4.0,
    concentration: float = 30.0,
    rng: np.random.Generator | int | None = None,
) -> list[dict[str, float]]:
    """Draw ``n`` compositions (atomic fractions summing to 1).

    Parameters
    ----------
    elements : sequence of str
        Host (substitutional) elements.
    n : int
        Number of compositions.
    interstitials : mapping symbol -> (low, high), optional
        Interstitial species and their at.% range as fractions of all atoms,
        e.g. ``{"O": (0.0, 0.30)}`` (reference: 0–30 at.% O).
    near_equimolar_per_random : float
        Ratio of near-equimolar to fully random compositions (>= 0).
    concentration : float
        Dirichlet concentration κ of the near-equimolar draws (> 0).
    rng : Generator, int or None
    """
    elements = list(elements)
    if not elements:
        raise ValueError("elements must name at least one element")
    if len(set(elements)) != len(elements):
        raise ValueError(f"elements contain duplicates: {elements}")
    if int(n) != n or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n}")
    if not near_equimolar_per_random >= 0:
        raise ValueError(
            f"near_equimolar_per_random must be >= 0, got {near_equimolar_per_random}"
        )
    if not concentration > 0:
        raise ValueError(f"concentration must be > 0, got {concentration}")
    ranges = {
        symbol: _check_probability_range(f"interstitials[{symbol!r}]", bounds)
        for symbol, bounds in (interstitials or {}).items()
    }
    overlap = set(ranges) & set(elements)
    if overlap:
        raise ValueError(f"interstitials repeat host elements: {sorted(overlap)}")
    if sum(hi for _, hi in ranges.values()) >= 1.0:
        raise ValueError("interstitials: the upper bounds must sum to less than 1")
    rng = as_rng(rng)
    p_equimolar = near_equimolar_per_random / (1.0 + near_equimolar_per_random)
    out = []
    for _ in range(int(n)):
        near = rng.random() < p_equimolar
        alpha = np.full(len(elements), concentration if near else 1.0)
        host = rng.dirichlet(alpha) if len(elements) > 1 else np.ones(1)
        content = {s: rng.uniform(lo, hi) for s, (lo, hi) in ranges.items()}
        rest = 1.0 - sum(content.values())
        fractions = {s: float(f * rest) for s, f in zip(elements, host, strict=True)}
        fractions.update(content)
        out.append(fractions)
    return out


def composition_counts(fractions: Mapping[str, float], n_atoms: int) -> dict[str, int]:
    """Integer atom counts summing to ``n_atoms`` closest to ``fractions``
    (largest remainder)."""
    if int(n_atoms) != n_atoms or n_atoms < 0:
        raise ValueError(f"n_atoms must be an integer >= 0, got {n_atoms}")
    values = np.array([float(v) for v in fractions.values()])
    if len(values) == 0 or (values < 0).any() or not values.sum() > 0:
        raise ValueError(f"fractions must be >= 0 with a positive sum, got {fractions}")
    exact = values / values.sum() * n_atoms
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: int(n_atoms) - counts.sum()]] += 1
    return dict(zip(fractions, (int(c) for c in counts), strict=True))
