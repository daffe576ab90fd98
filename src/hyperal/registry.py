"""One registry per axis of variation: the single place a new entry is added.

Selection scores (:data:`hyperal.evolve.scores.SCORES`), selection rules
(:data:`hyperal.evolve.rules.RULES`), executors
(:data:`hyperal.runs.executors.EXECUTORS`), committee backends
(:data:`hyperal.models.BACKENDS`) and oracles (:data:`hyperal.oracle.ORACLES`)
are each a :class:`Registry`: a read-only mapping from the name a run file
uses to the entry, with :meth:`Registry.register` to add one. The settings
that name an entry accept every registered name, and each axis has a
conformance test that exercises every entry, so a new entry is one module
plus its registration.

Looking up a name that is not registered raises :class:`UnknownName` — a
``KeyError`` (so ``name in registry`` and ``registry.get(name)`` behave as for
a dict) that is also a ``ValueError`` (so a settings validator reports it as
the key's problem), its message naming every registered entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["Registry", "UnknownName"]

T = TypeVar("T")


class UnknownName(KeyError, ValueError):
    """A name that is not registered; the message lists the registered ones."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


class Registry(Mapping[str, T], Generic[T]):
    """Name -> entry of one axis of variation (``what`` names the axis in
    messages, e.g. ``"selection score"``). Entries keep the order they were
    registered in."""

    def __init__(self, what: str, entries: Mapping[str, T] | None = None):
        self.what = what
        self._entries: dict[str, T] = {}
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Add ``entry`` under ``name`` and return it; a name registered
        already is an error unless ``replace`` (a test's stand-in)."""
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.what} needs a non-empty name, got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.what} {name!r} is registered already")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return its entry (tests that register a toy)."""
        entry = self[name]
        del self._entries[name]
        return entry

    def names(self) -> str:
        """The registered names, comma-separated (for messages)."""
        return ", ".join(self._entries)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name
            raise UnknownName(
                f"unknown {self.what} {name!r}; allowed: {self.names()}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {self.names()})"
