"""Epoch progress of a committee fit, for whoever is waiting on it.

A backend's ``fit`` calls :func:`report_epoch` after each epoch; whoever
runs the fit decides where the reports go with :func:`listening` — the
coordinator's progress bar when the fit runs in its own thread, a small
file beside the checkpoint (:class:`EpochFile`) when it runs in a pool
worker, which the coordinator reads while it waits (:func:`read_epoch`).
With no listener a report costs nothing. Listeners are context-local, so
a fit in one thread never reports to another's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class EpochProgress:
    """One finished epoch: ``epoch`` of at most ``epochs`` (a fit may stop
    early), the members' mean training and validation loss."""

    epoch: int
    epochs: int
    train_loss: float
    validation_loss: float


_listeners: ContextVar[tuple[Callable[[EpochProgress], None], ...]] = ContextVar(
    "hyperal_epoch_listeners", default=()
)


@contextmanager
def listening(listener: Callable[[EpochProgress], None]) -> Iterator[None]:
    """Send the epoch reports of fits run inside the block (in this thread)
    to ``listener`` too."""
    token = _listeners.set((*_listeners.get(), listener))
    try:
        yield
    finally:
        _listeners.reset(token)


def report_epoch(progress: EpochProgress) -> None:
    """Give ``progress`` to every listener of this context (none: nothing)."""
    for listener in _listeners.get():
        listener(progress)


class EpochFile:
    """A listener that keeps the last epoch in a JSON file (written whole,
    then renamed, so a reader never sees half a file), at most every
    ``every_s`` seconds and always for the last epoch of the fit."""

    def __init__(self, path: str | Path, every_s: float = 1.0):
        self.path = Path(path)
        self.every_s = every_s
        self._written = -float("inf")

    def __call__(self, progress: EpochProgress) -> None:
        now = time.monotonic()
        if now - self._written < self.every_s and progress.epoch < progress.epochs:
            return
        self._written = now
        part = self.path.with_name(self.path.name + ".part")
        try:
            part.write_text(json.dumps(asdict(progress)))
            os.replace(part, self.path)
        except OSError:  # progress is a courtesy: a full disk must not stop a fit
            pass


def read_epoch(path: str | Path) -> EpochProgress | None:
    """The last epoch an :class:`EpochFile` wrote, or None (none yet, or a
    file that cannot be read)."""
    try:
        return EpochProgress(**json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def epoch_file(checkpoint: str | Path) -> Path:
    """Where the fit writing the checkpoint directory ``checkpoint`` keeps
    its last epoch (a file beside it, removed once the fit has landed)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".epoch")
