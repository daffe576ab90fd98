"""What every ``hyperal`` command shares: the consoles and the one-line error."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus

console = Console()
err = Console(stderr=True)


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
    return console if console.is_terminal else Console(width=240)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr (no traceback) and exit with status 2."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
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
            from hyperal.runs.store import Store

            opened = Store(store)
            kept = (
                f": {opened.count(Where(status=OracleStatus.OK))} labels and "
                f"{opened.count(Where(status=OracleStatus.FAILED))} failed calls "
                f"kept in {store}"
            )
        except Exception:  # the line must come out even if the store cannot open
            kept = f"; the store {store} keeps every label stored so far"
        err.print(
            f"[red]error:[/red] interrupted{kept}; `{command}` resumes where it "
            "stopped",
            highlight=False,
            soft_wrap=True,
        )
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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hyperal.runs.progress import StageKind

    columns = [TextColumn("loop {task.fields[loop]}")]
    if show_run:
        columns.append(TextColumn("{task.fields[run]}"))
    columns += [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("oracle failures: {task.fields[failures]}"),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("starting", total=None, loop=0, failures=0, run="")
        state = {"key": None}

        def report(p):
            key = (p.run, p.loop, p.kind, p.message)
            if key != state["key"]:
                state["key"] = key
                bar.update(task, completed=0)
            bar.update(
                task,
                description=p.description,
                completed=p.done,
                total=p.total,
                loop=p.loop,
                failures=p.failures,
                run=p.run,
            )
            if p.kind is StageKind.EVALUATED and on_evaluated is not None:
                on_evaluated(p, bar.console)

        report.stop = bar.stop
        yield report


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class PlainProgress:
    """Progress for a log: one unwrapped line per finished label, evolution
    or fit (and per fit started), with the stage's count, the time since the
    run and the loop started, and an estimate of the loop's remainder — the
    larger of the stage's remainder at its rate so far and what the previous
    loop took beyond the time spent (none before a loop has been timed)."""

    def __init__(
        self,
        on_evaluated: Callable | None = None,
        *,
        show_run: bool = False,
        out: Console | None = None,
        clock: Callable[[], float] | None = None,
    ):
        import time

        self.out = out or Console(soft_wrap=True, highlight=False)
        self.clock = clock or time.monotonic
        self.on_evaluated = on_evaluated
        self.show_run = show_run
        self.started = self.clock()
        self.loop_started: dict[tuple[str, int], float] = {}
        self.stage_started: dict[tuple, float] = {}
        self.loop_took: dict[str, float] = {}

    def __call__(self, p) -> None:
        from hyperal.runs.progress import StageKind

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
        in_loop = now - self.loop_started[loop_key]
        count = f"{p.done}/{p.total}" if p.kind != StageKind.FIT else ""
        parts = [
            f"loop {p.loop}",
            *([p.run] if self.show_run else []),
            f"{p.description} {count}".strip(),
            f"oracle failures {p.failures}",
            f"elapsed {_duration(now - self.started)} (loop {_duration(in_loop)})",
        ]
        left = self._left(p, now, in_loop, stage)
        if left is not None:
            parts.append(f"~{_duration(left)} left in loop")
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
