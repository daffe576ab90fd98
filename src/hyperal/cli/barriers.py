"""``hyperal barriers init | run | status``: the barrier campaign."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hyperal.barriers.config import TEMPLATE, load_barrier_config
from hyperal.barriers.learn import BarrierCampaign, barrier_metrics
from hyperal.cli.common import (
    check_output,
    console,
    fail,
    interrupted_says_what_was_kept,
    print_table,
    progress_bar,
    table_console,
)
from hyperal.report.barriers import COLUMNS, hop_table, loop_rows, write_barrier_report
from hyperal.runs.context import RunError
from hyperal.runs.lock import StoreLocked
from hyperal.runs.settings import ConfigError
from hyperal.runs.store import Store, StoreError

app = typer.Typer(
    help=(
        "Learn diffusion barriers of an alloy across its hop environments: oracle "
        "saddle searches to start, then per loop the committee's saddle searches, "
        "the oracle's verdict on each saddle (artifactual: trains; proximal: "
        "tests), a refit, and the barriers of a frozen random set of hops."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

ConfigPath = Annotated[Path, typer.Argument(help="The barrier campaign YAML file.")]


def _config(path: Path):
    try:
        return load_barrier_config(path)
    except ConfigError as exc:
        fail(str(exc))


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the template.")] = Path(
        "barriers.yaml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
):
    """Write a commented barrier campaign template."""

    if path.exists() and not force:
        fail(f"{path} exists (use --force to overwrite)")
    check_output(path)
    path.write_text(TEMPLATE)
    console.print(f"wrote {path}: edit it, then `hyperal barriers run {path}`")


def _line(m) -> str:
    rmse = m.barrier_text()
    rmse = rmse if rmse == "–" else f"{rmse} meV"
    counts = ", ".join(f"{k} {v}" for k, v in sorted(m.counts.items()) if v)
    return (
        f"loop {m.loop}: {m.oracle_calls} oracle calls, {m.n_train} training "
        f"structures, random-set barrier RMSE {rmse}"
        + (f" ({counts})" if counts else "")
    )


@app.command()
def run(
    config_path: ConfigPath,
    accept_changes: Annotated[
        bool,
        typer.Option(
            help="Continue a store written with other selection or fit settings "
            "(later loops follow the file); other differences are refused."
        ),
    ] = False,
):
    """Run the barrier campaign, or resume it from its store. The store
    records the settings that decide its data; a file that differs from them
    is refused, naming the keys (more loops and the executor may change)."""

    config = _config(config_path)

    def line(p, out):
        out.print(_line(barrier_metrics(campaign.store)[-1]))

    with (
        interrupted_says_what_was_kept(
            config.store, f"hyperal barriers run {config_path}"
        ),
        progress_bar(line) as report,
    ):
        try:
            campaign = BarrierCampaign(
                config, progress=report, accept_changes=accept_changes
            )
            metrics = campaign.run()
        except (RunError, StoreError, StoreLocked) as exc:
            report.stop()
            fail(str(exc))
    console.print(f"done: {len(metrics) - 1} loops; store {config.store}")


def _open(config):
    if not config.store.startswith("postgres") and not Path(config.store).exists():
        fail(f"{config.store}: no barrier store yet (run `hyperal barriers run` first)")
    try:
        return Store(config.store)
    except StoreError as exc:
        fail(str(exc))


@app.command()
def status(config_path: ConfigPath):
    """A table per loop: oracle calls, training size, the triage counts, the
    errors on the proximal saddles and the random set, the barrier RMSE."""

    store = _open(_config(config_path))
    metrics = barrier_metrics(store)
    out = table_console()
    print_table(
        out, "hyperal barrier campaign (counts to date)", COLUMNS, loop_rows(metrics)
    )
    if metrics and metrics[-1].barrier_by_hop:
        header, rows = hop_table(metrics)
        print_table(
            out,
            "random-set barrier RMSE per hop [95 % bootstrap CI]",
            header,
            rows,
            left=1,
        )


@app.command()
def report(
    config_path: ConfigPath,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="HTML file (CSVs beside it).")
    ] = Path("barriers.html"),
):
    """A self-contained HTML report (loop table, barrier error against oracle
    calls, committee against oracle barriers and their distributions), with
    `metrics.csv` and `barriers.csv` beside it."""

    config = _config(config_path)
    check_output(output)
    store = _open(config)
    try:
        write_barrier_report(store, config, output)
    except ValueError as exc:
        fail(f"{config_path}: {exc}")
    console.print(f"report: {output.resolve()}")
