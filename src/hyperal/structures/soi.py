"""Sphere-of-influence (SOI) metrics: how big a periodic cell must be for a cutoff.

An atom's sphere of influence has diameter D = 2·r_cut; the cubic cell has edge
L; x = D/L (docs/method.md §1.4). For a cubic cell:

- SOI volume / cell volume          = (π/6)·x³
- unique radius / r_cut             = 2/x − 1   (r_u = L − r_cut: within r_u of an
                                                 atom no periodic image of it lies
                                                 within r_cut)
- unique volume / SOI volume        = (6/π)·(2/x − 1)³  (cube of edge 2·r_u)
- cell volume relative to x = 1     = 1/x³  (at fixed r_cut)

A random structure's cell (``hyperal.structures.random``) is sized by picking x
from these, not from a lattice parameter.
"""

from __future__ import annotations

import math

from hyperal.utils import ParameterError

#: Named operating points x = D/L.
OPERATING_POINTS: dict[str, float] = {
    # the SOI is the cell's inscribed sphere
    "inscribed_sphere": 1.0,
    # (6/π)(2/x − 1)³ = 1
    "unique_volume_equals_soi": 2.0 / (1.0 + (math.pi / 6.0) ** (1.0 / 3.0)),
    # (π/6) x³ = 1
    "cell_volume_equals_soi": (6.0 / math.pi) ** (1.0 / 3.0),
    # 2/x − 1 = 1/2: the inner half of r_cut is unique
    "inner_half_unique": 4.0 / 3.0,
    # the SOI touches the cell edges: D = L·√2
    "soi_touches_edges": math.sqrt(2.0),
    # the SOI circumscribes the cell: D = L·√3
    "soi_circumscribes_cell": math.sqrt(3.0),
}


def _check_x(x: float) -> float:
    x = float(x)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"x (= D/L) must be a finite number > 0, got {x}")
    return x


def soi_metrics(x: float) -> dict[str, float]:
    """The four SOI ratios of a cubic cell at x = D/L = 2·r_cut/L > 0.

    Returns a dict with ``soi_over_cell``, ``unique_radius_over_cutoff`` (negative
    beyond x = 2: no unique region), ``unique_volume_over_soi`` (0 beyond x = 2)
    and ``relative_cell_volume``.
    """
    x = _check_x(x)
    unique = 2.0 / x - 1.0
    return {
        "soi_over_cell": math.pi / 6.0 * x**3,
        "unique_radius_over_cutoff": unique,
        "unique_volume_over_soi": 6.0 / math.pi * max(unique, 0.0) ** 3,
        "relative_cell_volume": 1.0 / x**3,
    }


def x_for(criterion: str | float) -> float:
    """x = D/L of a named operating point (see :data:`OPERATING_POINTS`) or a
    number passed through."""
    if isinstance(criterion, str):
        if criterion not in OPERATING_POINTS:
            raise ParameterError(
                "criterion",
                f"unknown operating point {criterion!r}; known: "
                f"{', '.join(OPERATING_POINTS)} (or a number x = D/L > 0)",
            )
        return OPERATING_POINTS[criterion]
    try:
        return _check_x(criterion)
    except (TypeError, ValueError):
        raise ParameterError(
            "criterion",
            f"must be an operating point ({', '.join(OPERATING_POINTS)}) or a "
            f"finite number x = D/L > 0, got {criterion!r}",
        ) from None


def cell_edge(cutoff_A: float, criterion: str | float = "inner_half_unique") -> float:
    """Cubic cell edge L = 2·r_cut / x (Å) for a cutoff and a criterion."""
    if not (math.isfinite(cutoff_A) and cutoff_A > 0):
        raise ParameterError("cutoff_A", f"must be a finite number > 0, got {cutoff_A}")
    return 2.0 * cutoff_A / x_for(criterion)
