"""``hyperal plan FILE``: the bill before the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hyperal.barriers.config import load_barrier_config
from hyperal.barriers.plan import barrier_plan
from hyperal.benchmark.config import load_benchmark
from hyperal.benchmark.plan import benchmark_plan
from hyperal.campaign.plan import campaign_plan
from hyperal.campaign.validate import load_config
from hyperal.cli.common import console, fail, print_table, table_console
from hyperal.runs.plan import CostModel, Plan
from hyperal.runs.query import Where
from hyperal.runs.settings import ConfigError, load_with, read_file
from hyperal.runs.store import Store, StoreError
from hyperal.strata import testset_plan
from hyperal.testsets import parse_recipe
from hyperal.utils import duration


def _plan_of(path: Path, cores: int | None) -> tuple[Plan, str | None]:
    """The plan of the run file ``path`` (any kind) and the store it writes
    (None for a test set). Each kind's modules are imported when asked for,
    as every command does, so that ``hyperal --help`` stays quick."""
    try:
        data = read_file(path)
        keys = set(data) if isinstance(data, dict) else set()
        if "campaign" in keys:  # a benchmark file
            bench, base = load_benchmark(path)
            return benchmark_plan(bench, base, cores), bench.store
        if "hops" in keys:
            cfg = load_barrier_config(path)
            return barrier_plan(cfg, cores), cfg.store
        if "strata" in keys:
            return testset_plan(load_with(path, parse_recipe), cores), None

        cfg = load_config(path)
        return campaign_plan(cfg, cores), cfg.store
    except ConfigError as exc:
        fail(str(exc))
    except (ValueError, RuntimeError) as exc:  # a start that cannot be built
        # (random structures that cannot be placed): found now, not after
        # loop 0 is paid
        fail(f"{path}: the run's structures cannot be built: {exc}")


def say(line: str) -> None:
    """One line, never wrapped (a log keeps it whole)."""
    console.print(line, soft_wrap=True, highlight=False)


def _calls(n: int, bound: str) -> str:
    return str(n) if bound == "=" else f"{bound} {n}"


def plan(
    path: Annotated[
        Path,
        typer.Argument(
            help="A campaign, benchmark, barrier campaign or test-set recipe file."
        ),
    ],
    seconds_per_call: Annotated[
        float | None,
        typer.Option(help="What one oracle call costs (s), for the time estimates."),
    ] = None,
    seconds_per_atom: Annotated[
        float | None,
        typer.Option(
            help="Or: a call costs this × the structure's atoms (s; a linear model, "
            "an underestimate for cells much larger than the one it was measured on)."
        ),
    ] = None,
    cores_per_call: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Cores one oracle call holds, for core-hours (default: the Slurm "
            "executor's `cores`, else 1).",
        ),
    ] = None,
):
    """The oracle calls PATH implies, before anything runs: per loop and
    stage, with the structures' sizes; with a cost per call (or per atom),
    the oracle time, a wall time on the file's executor and the core-hours.
    Run on a file whose store exists, also what is already paid and what
    remains. Counts are exact where the file fixes them, upper bounds (≤)
    where the run decides — a relaxation that converges early, a frame
    skipped as unphysical — and floors (≥) where no setting bounds them."""
    try:
        cost = CostModel(seconds_per_call, seconds_per_atom)
    except ValueError as exc:
        fail(f"--seconds-per-call / --seconds-per-atom: {exc}")
    found, store = _plan_of(path, cores_per_call)
    out = table_console()
    header = ["loop", "run", "stage", "tasks", "calls", "atoms"]
    if cost.given:
        header += ["oracle time", "wall (≥)"]
    rows = []
    for s in found.stages:
        row = [
            "–" if s.loop is None else str(s.loop),
            s.run,
            s.what,
            str(s.tasks),
            _calls(s.total_calls, s.bound),
            s.atoms_text(),
        ]
        if cost.given:
            row += [
                duration(found.oracle_seconds(s, cost)),
                duration(found.wall_seconds(s, cost)),
            ]
        rows.append(row)
    # columns that would say nothing: one run, or no loops (a test set)
    drop = [1] if len({s.run for s in found.stages}) < 2 else []
    if all(s.loop is None for s in found.stages):
        drop.append(0)
    header = [h for k, h in enumerate(header) if k not in drop]
    rows = [[c for k, c in enumerate(r) if k not in drop] for r in rows]
    title = f"{path}: the oracle calls of this {found.what}"
    print_table(out, title, header, rows, left=header.index("stage") + 1)
    total = _calls(found.total_calls, found.bound)
    say(f"total: {total} oracle calls; executor: {found.workers.where}")
    if cost.given:
        oracle_s = sum(found.oracle_seconds(s, cost) for s in found.stages)
        wall_s = sum(found.wall_seconds(s, cost) for s in found.stages)
        say(
            f"at {cost.describe()}: oracle {duration(oracle_s)}, wall ≥ "
            f"{duration(wall_s)} (oracle calls only; fits and evolutions come on "
            f"top), {found.core_hours(cost):.1f} core-hours at "
            f"{found.workers.cores_per_call} core(s) per call"
        )
    for note in found.notes:
        say(f"note: {note}")
    if store is not None:
        _paid(found, store)


def _paid(found: Plan, store: str) -> None:
    """What the existing store has already paid, per loop, and what remains
    of the plan (a loop's remainder is never below 0)."""

    if not store.startswith("postgres") and not Path(store).exists():
        say(f"store {store}: not there yet — nothing paid")
        return
    try:
        opened = Store(store)
    except StoreError as exc:
        fail(str(exc))
    planned = {
        (run, loop): calls
        for run in {s.run for s in found.stages}
        for loop, calls in found.loop_calls(run).items()
    }
    paid = {key: opened.oracle_calls(Where(run=key[0], loop=key[1])) for key in planned}
    left = sum(max(0, planned[k] - paid[k]) for k in planned)
    say(
        f"store {store}: {sum(paid.values())} oracle calls paid; {left} left of the "
        f"plan ({found.bound} {found.total_calls} in all)"
    )
