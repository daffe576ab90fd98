"""``hyperal barriers init | run | status``: the barrier campaign."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hyperal.cli.common import check_output, console, fail, progress_bar, table_console

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
    from hyperal.barriers.config import load_barrier_config
    from hyperal.campaign.config import ConfigError

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
    from hyperal.barriers.config import TEMPLATE

    if path.exists() and not force:
        fail(f"{path} exists (use --force to overwrite)")
    check_output(path)
    path.write_text(TEMPLATE)
    console.print(f"wrote {path}: edit it, then `hyperal barriers run {path}`")


def _line(m) -> str:
    rmse = "–" if m.barrier_rmse_meV is None else f"{m.barrier_rmse_meV:.0f} meV"
    counts = ", ".join(f"{k} {v}" for k, v in sorted(m.counts.items()) if v)
    return (
        f"loop {m.loop}: {m.oracle_calls} oracle calls, {m.n_train} training "
        f"structures, random-set barrier RMSE {rmse}"
        + (f" ({counts})" if counts else "")
    )


@app.command()
def run(config_path: ConfigPath):
    """Run the barrier campaign, or resume it from its store."""
    from hyperal.barriers.learn import BarrierCampaign, barrier_metrics
    from hyperal.campaign.lock import StoreLocked
    from hyperal.campaign.stages import CampaignError
    from hyperal.campaign.store import StoreError

    config = _config(config_path)

    def line(p, out):
        out.print(_line(barrier_metrics(campaign.store)[-1]))

    with progress_bar(line) as report:
        try:
            campaign = BarrierCampaign(config, progress=report)
            metrics = campaign.run()
        except (CampaignError, StoreError, StoreLocked) as exc:
            report.stop()
            fail(str(exc))
    console.print(f"done: {len(metrics) - 1} loops; store {config.store}")


@app.command()
def status(config_path: ConfigPath):
    """A table per loop: oracle calls, training size, the triage counts, the
    errors on the proximal saddles and the random set, the barrier RMSE."""
    from hyperal.barriers.learn import barrier_metrics
    from hyperal.campaign.store import Store, StoreError

    config = _config(config_path)
    if not config.store.startswith("postgres") and not Path(config.store).exists():
        fail(f"{config.store}: no barrier store yet (run `hyperal barriers run` first)")
    try:
        store = Store(config.store)
    except StoreError as exc:
        fail(str(exc))
    metrics = barrier_metrics(store)
    table = Table(title="hyperal barrier campaign")
    columns = [
        "loop",
        "oracle calls",
        "train",
        "artifactual",
        "proximal",
        "instability",
        "blocked",
        "proximal F (meV/Å)",
        "random E (meV/atom)",
        "random F (meV/Å)",
        "barrier RMSE (meV)",
    ]
    for column in columns:
        table.add_column(column, justify="right")

    def figure(m, split, key, fmt):
        errors = m.errors(split)
        return "–" if errors is None else format(getattr(errors, key), fmt)

    for m in metrics:
        table.add_row(
            str(m.loop),
            str(m.oracle_calls),
            str(m.n_train),
            *(
                str(m.counts.get(k, 0))
                for k in ("artifactual", "proximal", "instability", "blocked")
            ),
            figure(m, "proximal", "force_rmse_meV_A", ".0f"),
            figure(m, "random", "energy_rmse_meV_atom", ".1f"),
            figure(m, "random", "force_rmse_meV_A", ".0f"),
            "–" if m.barrier_rmse_meV is None else f"{m.barrier_rmse_meV:.0f}",
        )
    table_console().print(table)
