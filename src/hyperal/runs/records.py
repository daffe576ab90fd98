"""What a campaign row is: its stage, split and oracle status as enums, and
its name, built in one place.

The kernel declares the stages and splits every workflow's loop writes
(:class:`Stage`, :class:`Split`); a workflow that writes rows of its own kind
(the barrier campaign's hops, the trajectory benchmark's oracle trajectories)
declares its own enum with :func:`declare` in its own module, so the kernel
names none of its vocabulary. Every value a row is written or selected with
is looked up in :data:`STAGES` / :data:`SPLITS`: a value nobody declared is
an error, not a row nobody finds.

Every row of the store carries ``run`` (several runs can share one store: a
benchmark's schemes, a barrier campaign beside the main loop), ``stage``,
``split``, ``oracle_status`` and the integers that locate it — ``loop``,
``start_index`` (the initial trajectory or the loop's start) and, for the
initial trajectories, ``frame``. Code reads those keys; the ``name`` only
makes a row unique (a resumed run skips a name it finds) and is never parsed.
"""

from __future__ import annotations

import re
from enum import StrEnum

from hyperal.registry import Registry

#: The run of ``hyperal run``; its row names carry no prefix (as before runs).
MAIN_RUN = "main"


class Stage(StrEnum):
    """How a row came to be: the stages every workflow's loop writes."""

    INITIAL = "initial"  # an oracle relaxation frame of loop 0
    START = "start"  # a loop's new starting structure
    SELECTED = "selected"  # the frame selected from a start's evolution
    METRICS = "metrics"  # a loop's metrics (no structure)
    FINAL = "final"  # a checkpoint's errors on the final frozen test sets


class Split(StrEnum):
    """What a labelled row is for: training, a frozen test set, or none."""

    TRAIN = "train"
    GENTLE = "gentle"
    DIFFICULT = "difficult"
    NONE = "none"


class OracleStatus(StrEnum):
    """Where a row's label stands."""

    PENDING = "pending"  # to be labelled
    OK = "ok"
    FAILED = "failed"  # with oracle_reason; never data
    SKIPPED = "skipped"  # nothing selected from the evolution (reason kept)
    NONE = "none"  # not to be labelled


#: Every declared stage and split: value -> enum member.
STAGES: Registry[StrEnum] = Registry("row stage", {s.value: s for s in Stage})
SPLITS: Registry[StrEnum] = Registry("row split", {s.value: s for s in Split})


def declare(
    *, stages: type[StrEnum] | None = None, splits: type[StrEnum] | None = None
) -> None:
    """A workflow's own stages and splits (called once, where it defines
    them); a value another workflow declared already is an error."""
    for registry, kind in ((STAGES, stages), (SPLITS, splits)):
        for member in kind or ():
            if registry.get(member.value) is not member:
                registry.register(member.value, member)


def row_name(run: str, text: str) -> str:
    """A row's name: ``text``, prefixed with the run unless it is
    :data:`MAIN_RUN` (names are unique in a store, never parsed)."""
    return text if run == MAIN_RUN else f"{run}:{text}"


def initial_name(run: str, trajectory: int, frame: int | None) -> str:
    """Frame ``frame`` of initial trajectory ``trajectory`` (None: the record
    of a trajectory whose relaxation failed)."""
    tail = "failed" if frame is None else str(frame)
    return row_name(run, f"init-{trajectory}-{tail}")


def start_name(run: str, loop: int, index: int) -> str:
    return row_name(run, f"L{loop}-start-{index}")


def selected_name(run: str, loop: int, index: int) -> str:
    return row_name(run, f"L{loop}-sel-{index}")


def metrics_name(run: str, loop: int) -> str:
    return row_name(run, f"metrics-{loop}")


def final_name(run: str, loop: int) -> str:
    return row_name(run, f"final-{loop}")


def validate_run(run: str) -> str:
    """A run name: letters, digits, ``_``, ``-`` and ``.``."""

    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", run):
        raise ValueError(
            f"run name {run!r}: use letters, digits, '_', '-' and '.' only"
        )
    return run
