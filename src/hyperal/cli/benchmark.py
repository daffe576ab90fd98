"""``hyperal benchmark``: every scheme on the same data at equal oracle cost."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hyperal.benchmark import Benchmark, collect, load_benchmark
from hyperal.benchmark.config import rank_set_problems
from hyperal.benchmark.trajectories import TrajectoryBenchmark
from hyperal.benchmark.trajectory_results import collect_trajectories
from hyperal.cli.common import (
    console,
    fail,
    interrupted_says_what_was_kept,
    progress_bar,
)
from hyperal.report.benchmark import write_benchmark_report
from hyperal.report.trajectories import write_trajectory_report
from hyperal.runs.context import RunError
from hyperal.runs.lock import StoreLocked
from hyperal.runs.settings import ConfigError
from hyperal.runs.store import Store, StoreError


def benchmark(
    config_path: Annotated[Path, typer.Argument(help="The benchmark YAML file.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder for benchmark.html, curves.svg, curves.csv, summary.csv "
            "and summary.txt, or with --trajectories trajectories.html, .csv and "
            ".txt (default: beside the store, the store's name + '-results').",
        ),
    ] = None,
    rank_set: Annotated[
        str | None,
        typer.Option(
            help="Rank on this frozen set's force RMSE: difficult, "
            "difficult_capped, gentle, test_file or a name of the file's "
            "test_sets; several, comma-separated, rank on their union "
            "(default: the file's rank_set)."
        ),
    ] = None,
    run: Annotated[
        bool,
        typer.Option(
            help="Run (or resume) the benchmark first; --no-run only summarises "
            "a finished store."
        ),
    ] = True,
    trajectories: Annotated[
        bool,
        typer.Option(
            "--trajectories",
            help="Instead of the active-learning variants, run the trajectory "
            "benchmark of the file's `trajectories` section: MD, contour "
            "exploration and dimer trajectories on the oracle from the same "
            "starts, a committee trained on each source, tested on the withheld "
            "trajectories of every source (trajectories.html, trajectories.csv).",
        ),
    ] = False,
):
    """Compare exploration schemes at equal oracle cost.

    Runs the base campaign once per variant (scheme, parameters, selection
    rule) and replicate seed, on shared initial data, starts and test sets
    (shared labels are paid once); then evaluates every loop's committee on
    the same frozen test sets and writes learning curves against the oracle
    calls spent on training, the calls each variant needs to reach the
    reference variant's final error, a ranking and an HTML page. A killed
    benchmark resumes where it stopped.

    With --trajectories: no active learning; each source scheme runs on the
    oracle, and a (train source × test source) error table shows which
    sampling transfers best.
    """

    try:
        bench, base = load_benchmark(config_path)
    except ConfigError as exc:
        fail(str(exc))
    if rank_set is not None:
        members = [m.strip() for m in rank_set.split(",") if m.strip()]
        problems = rank_set_problems(bench, members, "--rank-set") or (
            ["--rank-set: name at least one frozen set"] if not members else []
        )
        if problems:
            fail(problems[0])
        bench = bench.model_copy(
            update={"rank_set": members[0] if len(members) == 1 else members}
        )
    folder = output or Path(f"{Path(bench.store).with_suffix('')}-results")
    if trajectories:
        _trajectories(bench, base, folder, run)
        return
    _run(Benchmark, bench, base, run)
    try:
        results = collect(Store(bench.store), bench, base)
    except ValueError as exc:  # StoreError included
        fail(str(exc))
    results.write_csv(folder)
    text = results.text()
    (folder / "summary.txt").write_text(text + "\n")
    write_benchmark_report(results, bench, base, folder / "benchmark.html")
    console.print(text, highlight=False)
    console.print(
        f"results: {folder.resolve()} (benchmark.html, curves.csv, summary.csv, "
        "comparisons.csv)"
    )


def _run(kind, bench, base, run: bool) -> None:
    """Run (or resume) the benchmark ``kind(bench, base, progress)`` with a
    progress bar, or with ``run`` false check that its store exists; a
    failure is one line."""

    if run:
        with (
            interrupted_says_what_was_kept(bench.store, "the same hyperal benchmark"),
            progress_bar(show_run=True) as report,
        ):
            try:
                kind(bench, base, report).run()
            except (RunError, StoreError, StoreLocked) as exc:
                report.stop()
                fail(str(exc))
    elif not Path(bench.store).exists():
        fail(f"{bench.store}: no benchmark store yet (run without --no-run)")


def _trajectories(bench, base, folder: Path, run: bool) -> None:
    """``hyperal benchmark --trajectories``: run or resume, then summarise."""

    _run(TrajectoryBenchmark, bench, base, run)
    store = Store(bench.store)
    results = collect_trajectories(store, bench)
    if not results.errors:
        fail(f"{bench.store}: no trajectory benchmark results (run without --no-run)")
    results.write_csv(folder)
    text = results.text()
    (folder / "trajectories.txt").write_text(text + "\n")
    write_trajectory_report(results, bench, base, store, folder / "trajectories.html")
    console.print(text, highlight=False)
    console.print(
        f"results: {folder.resolve()} (trajectories.html, trajectories.csv, "
        "trajectories.txt)"
    )
