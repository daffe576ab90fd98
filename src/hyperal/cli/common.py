"""What every ``hyperal`` command shares: the consoles and the one-line error."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from hyperal.runs.progress import StageKind
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus
from hyperal.runs.store import Store
from hyperal.utils import duration

# Markup off: every text these consoles print is the user's or the
# program's words, printed literally — a path with brackets, or an install
# hint such as ``pip install 'hyperal[chgnet]'``, whose ``[chgnet]`` rich
# would otherwise take for a style tag and drop.
console = Console(markup=False)
err = Console(stderr=True, markup=False)


def error_line(message: str) -> None:
    """Print ``error: message`` to stderr as one line, ``error:`` in red and
    the message literally (no markup, not wrapped; a message of several
    lines — several problems in one file — is one ``error:`` line each)."""
    for line in message.splitlines() or [""]:
        err.print(
            Text.assemble(("error:", "red"), " ", line), highlight=False, soft_wrap=True
        )


def check_output(output: Path | None) -> None:
    """A missing or read-only output folder, before any work."""
    if output is None or str(output).startswith("postgres"):
        return
    folder = output.resolve().parent
    if not folder.is_dir():
        fail(f"--output: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        fail(f"--output: folder {folder} is not writable")


def table_console() -> Console:
    """The console for a table: the terminal's width, or — when the output
    goes to a file or a pipe (where rich assumes 80 columns and would cut
    figures short) — wide enough for any table."""
    return console if console.is_terminal else Console(width=240, markup=False)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr (no traceback; one ``error:`` line
    per line of ``message``) and exit with status 2."""
    error_line(message)
    raise typer.Exit(2)


@contextmanager
def interrupted_says_what_was_kept(store: str | Path, command: str) -> Iterator[None]:
    """Ctrl-C (or SIGINT) during a long command: one line saying what the
    store kept and that running ``command`` again resumes; exit status 130."""
    try:
        yield
    except KeyboardInterrupt:
        kept = ""
        try:
            opened = Store(store)
            kept = (
                f": {opened.count(Where(status=OracleStatus.OK))} labels and "
                f"{opened.count(Where(status=OracleStatus.FAILED))} failed calls "
                f"kept in {store}"
            )
        except Exception:  # the line must come out even if the store cannot open
            kept = f"; the store {store} keeps every label stored so far"
        error_line(f"interrupted{kept}; `{command}` resumes where it stopped")
        sys.exit(130)


@contextmanager
def progress_bar(
    on_evaluated: Callable | None = None, *, show_run: bool = False
) -> Iterator[Callable]:
    """A rich progress bar on a terminal — or, when the output goes to a file
    (a Slurm job's log), one plain line per finished task
    (:class:`PlainProgress`); yields the callback for campaign
    :class:`~hyperal.runs.progress.Progress` reports. ``on_evaluated``
    is called with each report of a finished loop (to print its line)."""
    if not console.is_terminal:
        plain = PlainProgress(on_evaluated, show_run=show_run)
        yield plain
        return

    started = time.monotonic()

    class Elapsed(ProgressColumn):
        """The time since the command started (the bar's task restarts
        with each stage; this does not)."""

        def render(self, task):
            return Text(f"elapsed {duration(time.monotonic() - started)}")

    columns = [TextColumn("loop {task.fields[loop]}")]
    if show_run:
        columns.append(TextColumn("{task.fields[run]}"))
    columns += [
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("stage left"),
        TimeRemainingColumn(),
        Elapsed(),
        TextColumn("oracle failures: {task.fields[failures]}"),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("starting", total=None, loop=0, failures=0, run="")
        state = {"key": None}

        def report(p):
            key = (p.run, p.loop, p.kind, p.message)
            fields = {
                "total": p.total,
                "completed": p.done,
                "description": " · ".join(filter(None, [p.description, p.detail])),
                "loop": p.loop,
                "failures": p.failures,
                "run": p.run,
            }
            if key != state["key"]:  # a new stage: its own rate and time left
                state["key"] = key
                bar.reset(task, **fields)  # in one step: no frame half-updated
            else:
                bar.update(task, **fields)
            if p.kind is StageKind.EVALUATED and on_evaluated is not None:
                on_evaluated(p, bar.console)

        report.stop = bar.stop
        yield report


class PlainProgress:
    """Progress for a log: one unwrapped line per finished label, evolution
    or fit (and per fit started, and a fit's epoch — its validation loss —
    at most every ``fit_every_s`` seconds), with the stage's count, the time
    since the run and the loop started, and an estimate of the loop's
    remainder — the larger of the stage's remainder at its rate so far and
    what the previous loop took beyond the time spent (none before a loop
    has been timed)."""

    def __init__(
        self,
        on_evaluated: Callable | None = None,
        *,
        show_run: bool = False,
        out: Console | None = None,
        clock: Callable[[], float] | None = None,
        fit_every_s: float = 30.0,
    ):
        self.out = out or Console(soft_wrap=True, highlight=False)
        self.clock = clock or time.monotonic
        self.on_evaluated = on_evaluated
        self.show_run = show_run
        self.started = self.clock()
        self.loop_started: dict[tuple[str, int], float] = {}
        self.stage_started: dict[tuple, float] = {}
        self.loop_took: dict[str, float] = {}
        self.fit_every_s = fit_every_s
        self.fit_shown = -float("inf")

    def __call__(self, p) -> None:
        now = self.clock()
        loop_key = (p.run, p.loop)
        self.loop_started.setdefault(loop_key, now)
        stage = (p.run, p.loop, p.kind, p.message)
        self.stage_started.setdefault(stage, now)
        if p.kind is StageKind.EVALUATED:
            self.loop_took[p.run] = now - self.loop_started[loop_key]
            if self.on_evaluated is not None:
                self.on_evaluated(p, self.out)
            return
        if p.kind is StageKind.EVALUATE or (p.done == 0 and p.kind != StageKind.FIT):
            return
        if p.kind is StageKind.FIT and 0 < p.done < p.total:  # an epoch
            if now - self.fit_shown < self.fit_every_s:
                return
            self.fit_shown = now
        in_loop = now - self.loop_started[loop_key]
        parts = [
            f"loop {p.loop}",
            *([p.run] if self.show_run else []),
            f"{p.description} {p.count}".strip(),
            *([p.detail] if p.detail else []),
            f"oracle failures {p.failures}",
            f"elapsed {duration(now - self.started)} (loop {duration(in_loop)})",
        ]
        left = self._left(p, now, in_loop, stage)
        if left is not None:
            parts.append(f"~{duration(left)} left in loop")
        self.out.print(" · ".join(parts), markup=False)

    def _left(self, p, now: float, in_loop: float, stage) -> float | None:
        estimates = []
        if 0 < p.done < p.total:
            rate = (now - self.stage_started[stage]) / p.done
            estimates.append(rate * (p.total - p.done))
        previous = self.loop_took.get(p.run)
        if previous is not None and p.loop > 1:  # loop 0 is no guide to loop 1
            estimates.append(max(0.0, previous - in_loop))
        return max(estimates) if estimates else None

    def stop(self) -> None:
        """Nothing to stop (a bar's counterpart)."""


def print_table(
    out: Console,
    title: str,
    header: list[str] | tuple[str, ...],
    rows: list[list[str]],
    *,
    caption: str | None = None,
    left: int = 0,
) -> None:
    """Print a table that never cuts a figure: every cell keeps its words
    whole (a header or a text cell may wrap between words), and where the
    columns do not fit ``out``'s width they are printed as several tables,
    each beginning with the first column (the loop, the hop) — so an
    80-column terminal shows every number in full. The first ``left``
    columns are left-aligned, the others right-aligned."""

    header = list(header)
    keep = 1  # the column every part repeats

    cells = [[row[k] for row in rows] + [header[k]] for k in range(len(header))]
    # a column may narrow to its widest word, never below (rich's own
    # collapsing would cut a number instead)
    floor = [max((len(w) for c in col for w in c.split()), default=1) for col in cells]
    natural = [max((len(c) for c in col), default=1) for col in cells]

    def needed(columns: list[int]) -> int:  # rich's default box, padding 1
        return sum(floor[k] + 3 for k in columns) + 1

    def widths(columns: list[int]) -> dict[int, int]:
        """Natural widths, the widest column narrowed first until they fit."""
        chosen = {k: natural[k] for k in columns}
        excess = sum(chosen.values()) + 3 * len(columns) + 1 - out.width
        while excess > 0:
            slack = [k for k in columns if chosen[k] > floor[k]]
            if not slack:
                break
            widest = max(slack, key=lambda k: chosen[k])
            chosen[widest] -= 1
            excess -= 1
        return chosen

    parts: list[list[int]] = []
    current = list(range(keep))
    for k in range(keep, len(header)):
        if needed(current + [k]) > out.width and len(current) > keep:
            parts.append(current)
            current = list(range(keep))
        current.append(k)
    parts.append(current)
    for n, columns in enumerate(parts):
        shown = title if len(parts) == 1 else f"{title} ({n + 1}/{len(parts)})"
        table = Table(title=shown, caption=caption if n == len(parts) - 1 else None)
        for k, width in widths(columns).items():
            table.add_column(
                header[k], justify="left" if k < left else "right", width=width
            )
        for row in rows:
            table.add_row(*(row[k] for k in columns))
        out.print(table)
