"""Which rows of a store: a typed selection, the only way code outside the
store asks it for rows.

ase.db selects by key-value pairs and query strings, and a misspelt key or
a wrong value type selects nothing without a word. :class:`Where` names the
keys hyperal's rows hold, takes the stage, split and status as their enums
(a wrong value is an error, not an empty answer) and is turned into the
ase.db selection in one place, :meth:`Where.selection`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hyperal.runs.records import OracleStatus, Split, Stage

#: keys a row may hold and :attr:`Where.has` / :attr:`Where.marked` may name:
#: set by the barrier workflow on its hop rows, and on initial rows set aside
#: after an oracle change
FLAG_KEYS = ("search_calls", "triage", "barrier_off", "superseded")


@dataclass(frozen=True)
class Where:
    """Rows matching every given field (None: any value).

    Attributes
    ----------
    name : str
        The row's unique name.
    run : str
        The run's name (``main``, ``r0.md``, ``r0.shared``, ``barriers``).
    stage : Stage
        How the row came to be (initial relaxation, start, selected frame, …).
    loop, min_loop, max_loop : int
        The loop, or bounds on it (inclusive).
    split : Split
        Training, a test set, or none.
    status : OracleStatus
        The oracle status of the row's label.
    cached : bool
        True: only labels copied from an identical structure (no oracle call).
    start_index : int
        The start a row belongs to (within its loop).
    point : str
        A hop row's point: ``initial``, ``final`` or ``saddle``.
    drawn_as : str
        How a hop was drawn (``random``, ``tail``, …).
    triage : str
        Why a committee saddle went to training (``artifactual``, ``instability``, …).
    has : str
        A key the row must hold (one of :data:`FLAG_KEYS`).
    marked : str
        A key the row must hold set to 1 (one of :data:`FLAG_KEYS`).
    """

    name: str | None = None
    run: str | None = None
    stage: Stage | None = None
    loop: int | None = None
    min_loop: int | None = None
    max_loop: int | None = None
    split: Split | None = None
    status: OracleStatus | None = None
    cached: bool | None = None
    start_index: int | None = None
    point: str | None = None
    drawn_as: str | None = None
    triage: str | None = None
    has: str | None = None
    marked: str | None = None

    def __post_init__(self):
        # the enums' values (a stage, split or status outside them raises)
        for name, kind in (
            ("stage", Stage),
            ("split", Split),
            ("status", OracleStatus),
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, kind(value))
        for name in ("has", "marked"):
            value = getattr(self, name)
            if value is not None and value not in FLAG_KEYS:
                raise ValueError(
                    f"Where.{name}: {value!r} is not a row key; allowed: "
                    f"{', '.join(FLAG_KEYS)}"
                )
        if self.cached is False:
            raise ValueError("Where.cached: True (copied labels) or None (any)")

    def replace(self, **changes) -> Where:
        """This selection with ``changes``."""
        return dataclasses.replace(self, **changes)

    def selection(self) -> tuple[str | None, dict]:
        """The ase.db query string (or None) and key-value pairs."""
        parts = []
        pairs: dict = {}
        for key, value in (
            ("name", self.name),
            ("run", self.run),
            ("stage", self.stage),
            ("loop", self.loop),
            ("split", self.split),
            ("oracle_status", self.status),
            ("start_index", self.start_index),
            ("point", self.point),
            ("drawn_as", self.drawn_as),
            ("triage", self.triage),
        ):
            if value is not None:
                pairs[key] = value.value if hasattr(value, "value") else value
        if self.cached:
            pairs["cached"] = 1
        if self.min_loop is not None:
            parts.append(f"loop>={int(self.min_loop)}")
        if self.max_loop is not None:
            parts.append(f"loop<={int(self.max_loop)}")
        if self.has is not None:
            parts.append(self.has)
        if self.marked is not None:
            parts.append(f"{self.marked}=1")
        return (",".join(parts) or None), pairs
