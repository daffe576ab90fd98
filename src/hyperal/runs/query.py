"""Which rows of a store, and what a new row holds: typed, the only way code
outside the store asks it for rows or writes one.

ase.db selects by key-value pairs and query strings, and a misspelt key or
a wrong value type selects nothing without a word. :class:`Where` names the
keys hyperal's rows hold, takes the stage, split and status as their enums
(a wrong value is an error, not an empty answer) and is turned into the
ase.db selection in one place, :meth:`Where.selection`. :class:`Row` is the
same keys on the writing side: a new row is built by type, so it is written
with exactly the keys and values it is later selected by.

A workflow whose rows hold keys of their own subclasses both (the barrier
campaign's ``HopWhere`` / ``HopRow`` add a hop's ``point``; its flag keys
extend :attr:`Where.flags`): every dataclass field is a row key of its name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from hyperal.runs.records import SPLITS, STAGES, OracleStatus, Split

#: fields of :class:`Where` that are not a row key of their name
_BOUNDS = ("min_loop", "max_loop", "cached", "has", "marked")
#: fields whose row key is another name
_KEYS = {"status": "oracle_status", "reason": "oracle_reason"}


def _value(value):
    return value.value if isinstance(value, StrEnum) else value


@dataclass(frozen=True)
class Where:
    """Rows matching every given field (None: any value).

    Attributes
    ----------
    name : str
        The row's unique name.
    run : str
        The run's name (``main``, ``r0.md``, ``r0.shared``, ``barriers``).
    stage : StrEnum
        How the row came to be (initial relaxation, start, selected frame, or
        a stage a workflow declared): a member or value of
        :data:`~hyperal.runs.records.STAGES`.
    loop, min_loop, max_loop : int
        The loop, or bounds on it (inclusive).
    split : StrEnum
        Training, a test set, or none (a member or value of
        :data:`~hyperal.runs.records.SPLITS`).
    status : OracleStatus
        The oracle status of the row's label.
    cached : bool
        True: only labels copied from an identical structure (no oracle call).
    start_index : int
        The start a row belongs to (within its loop).
    has : str
        A key the row must hold (one of :attr:`flags`).
    marked : str
        A key the row must hold set to 1 (one of :attr:`flags`).
    """

    #: keys a row may hold and :attr:`has` / :attr:`marked` may name: initial
    #: rows set aside after an oracle change
    flags: ClassVar[tuple[str, ...]] = ("superseded",)

    name: str | None = None
    run: str | None = None
    stage: StrEnum | None = None
    loop: int | None = None
    min_loop: int | None = None
    max_loop: int | None = None
    split: StrEnum | None = None
    status: OracleStatus | None = None
    cached: bool | None = None
    start_index: int | None = None
    has: str | None = None
    marked: str | None = None

    def __post_init__(self):
        # the declared members (a stage, split or status nobody declared raises)
        for name, kind in (("stage", STAGES), ("split", SPLITS)):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, kind[_value(value)])
        if self.status is not None:
            object.__setattr__(self, "status", OracleStatus(self.status))
        for name in ("has", "marked"):
            value = getattr(self, name)
            if value is not None and value not in self.flags:
                raise ValueError(
                    f"{type(self).__name__}.{name}: {value!r} is not a row key; "
                    f"allowed: {', '.join(self.flags)}"
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
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is not None and item.name not in _BOUNDS:
                pairs[_KEYS.get(item.name, item.name)] = _value(value)
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


@dataclass(frozen=True)
class Row:
    """The key-value pairs of a new row, by type: the keys :class:`Where`
    selects by, and what describes the row (``about``).

    Attributes
    ----------
    name : str
        Unique in the store (what a resumed run skips); never parsed.
    run, stage, loop, split, start_index
        As :class:`Where` selects them; ``stage`` and ``split`` declared.
    status : OracleStatus
        The label's status when written (pending: to be labelled; a label
        written with the row sets it ``ok`` or ``failed``).
    frame : int
        The frame within the start's trajectory (initial relaxations,
        imported labels, oracle trajectories).
    reason : str
        Why the row was skipped or failed (``oracle_reason``, first 500
        characters).
    about : Mapping
        Keys that describe the row and are never selected by (``source``,
        ``scheme``, ``uncertainty``, a hop's ``decoration``, ...); they may
        not repeat a typed key.
    """

    name: str
    run: str
    stage: StrEnum
    loop: int | None = None
    split: StrEnum = Split.NONE
    status: OracleStatus = OracleStatus.PENDING
    start_index: int | None = None
    frame: int | None = None
    reason: str | None = None
    about: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "stage", STAGES[_value(self.stage)])
        object.__setattr__(self, "split", SPLITS[_value(self.split)])
        object.__setattr__(self, "status", OracleStatus(self.status))
        typed = {_KEYS.get(item.name, item.name) for item in dataclasses.fields(self)}
        clash = sorted(typed & set(self.about))
        if clash:
            raise ValueError(f"Row.about repeats typed keys: {', '.join(clash)}")

    def replace(self, **changes) -> Row:
        """This row with ``changes`` (``about`` merged, not replaced)."""
        about = {**self.about, **changes.pop("about", {})}
        return dataclasses.replace(self, about=about, **changes)

    def pairs(self) -> dict[str, Any]:
        """The ase.db key-value pairs (None fields left out)."""
        pairs: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None or item.name == "about":
                continue
            if item.name == "reason":
                value = value[:500]
            pairs[_KEYS.get(item.name, item.name)] = _value(value)
        return {**pairs, **self.about}


#: the :class:`Row` fields a workflow's row builder takes beside the name,
#: run, stage, loop and start
ROW_FIELDS = ("split", "status", "frame", "reason")
