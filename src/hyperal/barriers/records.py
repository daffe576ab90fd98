"""What the barrier campaign's rows are: the stages and splits it declares,
the keys its hop rows hold (a :class:`HopWhere` selects by them, a
:class:`HopRow` writes them) and their names."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from hyperal.runs.query import Row, Where
from hyperal.runs.records import declare, row_name


class BarrierStage(StrEnum):
    """The barrier campaign's stages (declared to the kernel)."""

    HOP = "hop"  # a barrier campaign's start, saddle or end of a hop
    BARRIER_METRICS = "barrier_metrics"  # a barrier campaign loop's figures
    IMPORTED = "imported"  # a label taken from another campaign's store


class BarrierSplit(StrEnum):
    """The barrier campaign's test sets (declared to the kernel)."""

    PROXIMAL = "proximal"  # MLIP saddles the oracle found near-stationary
    RANDOM = "random"  # a barrier campaign's frozen random hops
    TAIL = "tail"  # hops of a score's tail set aside for testing


declare(stages=BarrierStage, splits=BarrierSplit)


@dataclass(frozen=True)
class HopWhere(Where):
    """:class:`~hyperal.runs.query.Where` with the keys of hop rows.

    Attributes
    ----------
    point : str
        A hop row's point: ``start``, ``saddle``, ``end`` (or an edge of a
        collapsed search).
    drawn_as : str
        How a hop was drawn (``random``, ``tail``, …).
    triage : str
        Why a committee saddle went to training (``artifactual``,
        ``instability``, …).
    """

    #: keys a hop row may hold: the search's oracle calls, its triage, and
    #: a hop whose barrier the oracle set aside
    flags: ClassVar[tuple[str, ...]] = (
        *Where.flags,
        "search_calls",
        "triage",
        "barrier_off",
    )

    point: str | None = None
    drawn_as: str | None = None
    triage: str | None = None


@dataclass(frozen=True)
class HopRow(Row):
    """A new hop row: :class:`~hyperal.runs.query.Row` with the keys
    :class:`HopWhere` selects by."""

    point: str | None = None
    drawn_as: str | None = None
    triage: str | None = None


def hop_name(run: str, loop: int, index: int, point: str) -> str:
    """Point ``point`` (start, saddle, end) of hop ``index`` of ``loop``."""
    return row_name(run, f"L{loop}-hop-{index}-{point}")


def imported_name(run: str, index: int) -> str:
    """The ``index``-th label taken from another store (in its fit's order)."""
    return row_name(run, f"imported-{index}")
