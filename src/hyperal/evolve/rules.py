"""Selection rules: how a trajectory's qualified frames are ordered for
labelling (``selection.rule`` in a campaign file).

One registry, :data:`RULES`. A rule orders the frames that passed the
physical limits (:func:`hyperal.evolve.select_frame`); the first is the one
labelled, the next ones are the candidates when the first is refused as a
near-copy. A new rule is one :class:`Rule` and one :func:`register_rule`
call; the campaign file's ``selection.rule`` accepts every registered name,
and the test suite selects from a real trajectory with every entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hyperal.registry import Registry

#: qualified frames' positions, every frame's score, a random generator ->
#: the qualified positions in the rule's order of preference
Order = Callable[[Sequence[int], np.ndarray, np.random.Generator], list[int]]


@dataclass(frozen=True)
class Rule:
    """A selection rule.

    Attributes
    ----------
    name : str
        The name a campaign file uses (``selection.rule``).
    summary : str
        What it labels, one line (the settings' description is built from it).
    order : callable
        ``order(qualified, scores, rng)``: the qualified frames in order of
        preference.
    note : str
        Added to the selection's reason (what the reader must know).
    ranks_by_score : bool
        Whether the order follows the score, so that a batch of the loop's
        best-scoring frames (``selection.batch``) can be built on it.
    loop_draw : bool
        Whether the loop, not the trajectory, chooses: every qualified frame
        goes back to the loop, which draws its labels among every
        trajectory's frames in ``selection.window``
        (:func:`hyperal.evolve.window.trust_window_draw`).
    uses_score : bool
        Whether the order reads the score at all (false: the selection
        scores frames by σ_U only to block those without a finite one).
    """

    name: str
    summary: str
    order: Order
    note: str = ""
    ranks_by_score: bool = False
    loop_draw: bool = False
    uses_score: bool = True


def _by_score(qualified, scores, rng) -> list[int]:
    # stable: the earliest of equally scored frames first
    return sorted(qualified, key=lambda k: -scores[k])


def _shuffled(qualified, scores, rng) -> list[int]:
    return [qualified[i] for i in rng.permutation(len(qualified))]


def _in_order(qualified, scores, rng) -> list[int]:
    return list(qualified)


RULES: Registry[Rule] = Registry("selection rule")
"""Every selection rule, by name; :func:`register_rule` adds one."""


def register_rule(rule: Rule) -> Rule:
    """Add ``rule`` to :data:`RULES` (a name registered twice is an error)."""
    return RULES.register(rule.name, rule)


def get_rule(name: str) -> Rule:
    """The registered rule ``name``; a ValueError listing the others."""
    return RULES[name]


register_rule(
    Rule(
        "max_sigma",
        "the physical frame with the largest score",
        _by_score,
        ranks_by_score=True,
    )
)
register_rule(
    Rule(
        "random",
        "a physical frame drawn uniformly, the score unused (the control "
        "that shows what selecting by the score is worth)",
        _shuffled,
        note=" (drawn at random)",
        uses_score=False,
    )
)
register_rule(
    Rule(
        "trust_window",
        "a frame drawn uniformly among the loop's frames whose score lies in "
        "`window`; those above it discarded as failed (DP-GEN)",
        _in_order,
        note=" (the first qualified; the loop draws in its window)",
        loop_draw=True,
    )
)
