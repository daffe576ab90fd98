"""What a campaign row is: its stage, split and oracle status as enums, and
its name, built in one place.

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

#: The run of ``hyperal run``; its row names carry no prefix (as before runs).
MAIN_RUN = "main"


class Stage(StrEnum):
    INITIAL = "initial"  # an oracle relaxation frame of loop 0
    START = "start"  # a loop's new starting structure
    SELECTED = "selected"  # the frame selected from a start's evolution
    METRICS = "metrics"  # a loop's metrics (no structure)
    FINAL = "final"  # a checkpoint's errors on the final frozen test sets
    HOP = "hop"  # a barrier campaign's start, saddle or end of a hop
    BARRIER_METRICS = "barrier_metrics"  # a barrier campaign loop's figures
    IMPORTED = "imported"  # a label taken from another campaign's store
    TRAJECTORY = "trajectory"  # a labelled call of an oracle trajectory


class Split(StrEnum):
    TRAIN = "train"
    GENTLE = "gentle"
    DIFFICULT = "difficult"
    PROXIMAL = "proximal"  # MLIP saddles the oracle found near-stationary
    RANDOM = "random"  # a barrier campaign's frozen random hops
    TAIL = "tail"  # hops of a score's tail set aside for testing
    WITHHELD = "withheld"  # oracle trajectories set aside for testing
    NONE = "none"


class OracleStatus(StrEnum):
    PENDING = "pending"  # to be labelled
    OK = "ok"
    FAILED = "failed"  # with oracle_reason; never data
    SKIPPED = "skipped"  # nothing selected from the evolution (reason kept)
    NONE = "none"  # not to be labelled


def _prefix(run: str) -> str:
    return "" if run == MAIN_RUN else f"{run}:"


def initial_name(run: str, trajectory: int, frame: int | None) -> str:
    """Frame ``frame`` of initial trajectory ``trajectory`` (None: the record
    of a trajectory whose relaxation failed)."""
    tail = "failed" if frame is None else str(frame)
    return f"{_prefix(run)}init-{trajectory}-{tail}"


def start_name(run: str, loop: int, index: int) -> str:
    return f"{_prefix(run)}L{loop}-start-{index}"


def selected_name(run: str, loop: int, index: int) -> str:
    return f"{_prefix(run)}L{loop}-sel-{index}"


def hop_name(run: str, loop: int, index: int, point: str) -> str:
    """Point ``point`` (start, saddle, end) of hop ``index`` of ``loop``."""
    return f"{_prefix(run)}L{loop}-hop-{index}-{point}"


def imported_name(run: str, index: int) -> str:
    """The ``index``-th label taken from another store (in its fit's order)."""
    return f"{_prefix(run)}imported-{index}"


def trajectory_name(run: str, start: int, call: int | None) -> str:
    """Oracle call ``call`` of the trajectory from start ``start`` (None:
    the record of a trajectory that labelled nothing)."""
    return f"{_prefix(run)}traj-{start}-{'none' if call is None else call}"


def metrics_name(run: str, loop: int) -> str:
    return f"{_prefix(run)}metrics-{loop}"


def final_name(run: str, loop: int) -> str:
    return f"{_prefix(run)}final-{loop}"


def validate_run(run: str) -> str:
    """A run name: letters, digits, ``_``, ``-`` and ``.``."""

    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", run):
        raise ValueError(
            f"run name {run!r}: use letters, digits, '_', '-' and '.' only"
        )
    return run
