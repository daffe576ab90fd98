"""The trust window: a loop's labels drawn uniformly among the frames whose
score lies between two bounds (``selection.rule: trust_window``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hyperal.utils import as_rng


def trust_window_draw(
    scores: Sequence[Sequence[float]],
    low: float,
    high: float,
    budget: int,
    rng=None,
    accept: Callable[[int, int], bool] | None = None,
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Draw a loop's labels uniformly inside a trust window of the score.

    DP-GEN's rule (Zhang et al., Comput. Phys. Commun. 253, 107206 (2020)):
    a frame whose model deviation lies between ``trust_lo`` and
    ``trust_hi`` is a candidate, drawn uniformly; one below is "accurate"
    (nothing to learn), one above "failed" (likely unphysical) and
    discarded. ``scores[t]`` are trajectory t's qualified frames' scores.
    First each trajectory with a frame in [``low``, ``high``] gives one
    drawn uniformly among them; then, until ``budget`` frames are chosen,
    one more is drawn uniformly among every trajectory's remaining window
    frames — so a trajectory with no frame in the window costs no label and
    a comparison stays at equal cost. ``accept(t, k)`` may refuse a frame
    (a near-copy): the next draw replaces it.

    Returns the chosen (trajectory, frame position) pairs in the order
    drawn, and per trajectory the frames below and above the window.
    """
    if not low <= high:
        raise ValueError(f"the window needs low <= high, got [{low}, {high}]")
    rng = as_rng(rng)
    inside = [
        [k for k, s in enumerate(values) if low <= s <= high] for values in scores
    ]
    below = [sum(s < low for s in values) for values in scores]
    above = [sum(s > high for s in values) for values in scores]
    chosen: list[tuple[int, int]] = []

    def take(t: int, k: int) -> bool:
        inside[t].remove(k)
        if accept is not None and not accept(t, k):
            return False
        chosen.append((t, k))
        return True

    for t in range(len(scores)):  # one per trajectory first
        while inside[t] and len(chosen) < budget:
            if take(t, inside[t][int(rng.integers(len(inside[t])))]):
                break
    while len(chosen) < budget:  # then the budget, from every window alike
        left = [(t, k) for t in range(len(scores)) for k in inside[t]]
        if not left:
            break
        take(*left[int(rng.integers(len(left)))])
    return chosen, below, above
