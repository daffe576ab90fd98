"""Small helpers shared across hyperal's packages."""

from __future__ import annotations

import numpy as np

#: What every function that draws random numbers accepts.
RngLike = np.random.Generator | int | None


def as_rng(rng: RngLike) -> np.random.Generator:
    """``np.random.default_rng`` that passes a Generator through unchanged."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
