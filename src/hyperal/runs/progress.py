"""Progress reports of the campaign stages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hyperal.runs.records import MAIN_RUN


class StageKind(StrEnum):
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
    ``loop`` of ``run``, oracle ``failures`` so far, and a detail
    (``message``: the split labelled, the scheme, the training-set size)."""

    loop: int
    kind: StageKind
    done: int
    total: int
    failures: int = 0
    message: str = ""
    run: str = MAIN_RUN

    @property
    def description(self) -> str:
        return f"{self.kind} {self.message}".strip()
