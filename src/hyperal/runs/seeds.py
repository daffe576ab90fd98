"""Random streams of a run: pure functions of integer keys, so a rerun, a
resumed run and every run sharing a store draw the same numbers."""

from __future__ import annotations

import numpy as np

from hyperal.utils import as_rng


def stream(seed: int, loop: int, stream: int) -> np.random.Generator:
    """The random stream ``stream`` of ``loop`` of a run seeded ``seed``."""
    return as_rng(np.random.SeedSequence([seed, loop, stream]))


def task_seed(*keys: int) -> int:
    """A 32-bit seed for one task (an evolution) from integer keys."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])
