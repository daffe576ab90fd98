"""Progress reports of the campaign stages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hyperal.runs.records import MAIN_RUN


class StageKind(StrEnum):
    """What a progress report is about: the stage of the loop that is
    running (its value is what the progress line prints)."""

    INITIAL = "initial data"
    LABEL = "labelling"
    EVOLVE = "evolving"
    FIT = "fitting"
    FITTED = "fitted"
    EVALUATE = "evaluating"
    EVALUATED = "evaluated"


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` tasks of stage ``kind`` in
    ``loop`` of ``run``, oracle ``failures`` so far, what the stage is
    about (``message``: the split labelled, the scheme, the training-set
    size) and how it is going (``detail``: a fit's validation loss; not part
    of the stage's identity, it changes as the stage goes on)."""

    loop: int
    kind: StageKind
    done: int
    total: int
    failures: int = 0
    message: str = ""
    run: str = MAIN_RUN
    detail: str = ""

    @property
    def description(self) -> str:
        return f"{self.kind} {self.message}".strip()

    @property
    def count(self) -> str:
        """``done/total`` as a log line shows it: a fit's epochs as ``epoch
        12/150``; nothing for a fit not yet in its epochs."""
        if self.kind is StageKind.FIT:
            return f"epoch {self.done}/{self.total}" if self.done else ""
        return f"{self.done}/{self.total}"
