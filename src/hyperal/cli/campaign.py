"""``hyperal init | run | status | report | export``: the campaign commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from ase.io import write

from hyperal.campaign.audit import audit_lines
from hyperal.campaign.loop import Campaign
from hyperal.campaign.template import TEMPLATE
from hyperal.campaign.validate import load_config
from hyperal.cli.common import (
    check_output,
    console,
    fail,
    interrupted_says_what_was_kept,
    print_table,
    progress_bar,
    table_console,
)
from hyperal.labels import with_ref_keys
from hyperal.report import (
    POOL_NOTE,
    SUMMARY_COLUMNS,
    final_rows,
    pool_rows,
    stop_line,
    summary_rows,
    wall_line,
    write_report,
)
from hyperal.runs.context import RunError
from hyperal.runs.lock import StoreLocked
from hyperal.runs.query import Where
from hyperal.runs.records import MAIN_RUN, OracleStatus
from hyperal.runs.settings import ConfigError
from hyperal.runs.store import Store, StoreError

ConfigPath = Annotated[Path, typer.Argument(help="The campaign YAML file.")]


def _config(path: Path):
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(str(exc))


def _store(config_path: Path, store: Path | None):
    path = store or Path(_config(config_path).store)
    if not str(path).startswith("postgres") and not Path(path).exists():
        fail(f"{path}: no campaign store yet (run `hyperal run` first)")
    try:
        return Store(path)
    except StoreError as exc:
        fail(str(exc))


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the template.")] = Path(
        "campaign.yaml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
):
    """Write a commented campaign template (every key with its default)."""
    if path.exists() and not force:
        fail(f"{path} exists (use --force to overwrite)")
    if not path.resolve().parent.is_dir():
        fail(f"{path}: folder {path.resolve().parent} does not exist")
    try:
        path.write_text(TEMPLATE)
    except OSError as exc:
        fail(f"{path}: cannot write: {exc.strerror}")
    console.print(f"wrote {path}: edit it, then `hyperal run {path}`")


def run(
    config_path: ConfigPath,
    accept_changes: Annotated[
        bool,
        typer.Option(
            help="Continue a store written with other scheme, selection, counts "
            "or fit settings (later loops follow the file). Other differences "
            "(system, initial data, seed, oracle, committee architecture) are "
            "always refused."
        ),
    ] = False,
    accept_oracle_change: Annotated[
        bool,
        typer.Option(
            help="Continue a store labelled by another oracle (or other oracle "
            "arguments), e.g. a wrapper fixed after its broken calls were all "
            "rejected: the labels already stored stay, the store records the "
            "change."
        ),
    ] = False,
):
    """Run the campaign, or resume it from its store where it stopped.

    The store records the settings that decide its data; a file that differs
    from them is refused, naming the keys. More loops, the executor and the
    oracle's time limits may always change."""

    config = _config(config_path)

    def line(p, out):
        out.print(_line(campaign.store.metrics()[-1]))

    resume = f"hyperal run {config_path}"
    with (
        interrupted_says_what_was_kept(config.store, resume),
        progress_bar(line) as report,
    ):
        try:
            campaign = Campaign(
                config,
                progress=report,
                accept_changes=accept_changes,
                accept_oracle_change=accept_oracle_change,
            )
            metrics = campaign.run()
        except (RunError, StoreError, StoreLocked) as exc:
            report.stop()
            fail(str(exc))
    console.print(f"done: {len(metrics) - 1} loops; store {config.store}")


def _line(m) -> str:
    parts = [
        f"loop {m.loop}: {m.oracle_calls} oracle calls,",
        f"{m.n_train} training structures",
    ]
    if m.fit is not None:
        kind = "warm" if m.fit.warm_started else "cold"
        parts.append(f"({kind} fit {m.fit.wall_s:.0f} s)")
    for split in ("gentle", "difficult"):
        stats = m.errors(split)
        if stats:
            parts.append(
                f"| {split}: E {stats.energy_rmse_meV_atom:.1f} meV/atom, "
                f"F {stats.force_rmse_meV_A:.0f} meV/Å, "
                f"θ_F {stats.angle_mae_deg:.1f}°"
            )
    return " ".join(parts)


def status(
    config_path: ConfigPath,
    store: Annotated[
        Path | None, typer.Option(help="Store path (default: the config's).")
    ] = None,
):
    """A table per loop: oracle calls, training size, errors on both test
    sets; after the last loop, every loop's force errors on the final frozen
    sets, per structure type."""

    opened = _store(config_path, store)
    metrics = opened.metrics()
    out = table_console()
    if metrics:
        print_table(out, "hyperal campaign", SUMMARY_COLUMNS, summary_rows(metrics))
    header, rows = pool_rows(metrics)
    if rows:
        print_table(out, "pool workers' time per loop", header, rows, caption=POOL_NOTE)
    out.print(stop_line(opened))
    if metrics:
        out.print(wall_line(metrics))
        for line in audit_lines(metrics):
            out.print(line)
    failures = opened.failure_reasons()
    if failures:
        print_table(
            out,
            "oracle failures by reason (never trained on)",
            ["failures", "reason"],
            [[str(n), reason] for reason, n in failures],
        )
    finals = opened.final()
    if finals:
        header, rows = final_rows(finals)
        print_table(
            out,
            "every loop's committee on the final frozen sets (F RMSE, meV/Å)",
            header,
            rows,
        )


def report(
    config_path: ConfigPath,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file.")] = Path(
        "report.html"
    ),
    store: Annotated[
        Path | None, typer.Option(help="Store path (default: the config's).")
    ] = None,
):
    """A self-contained HTML report: learning curves, parity plots, θ_F and σ_U."""

    check_output(output)
    try:
        write_report(_store(config_path, store), output)
    except ValueError as exc:  # no finished loop yet
        fail(f"{config_path}: {exc}")
    console.print(f"report: {output.resolve()}")


def export(
    config_path: ConfigPath,
    output: Annotated[Path, typer.Option("--output", "-o", help="extxyz file.")] = Path(
        "train.extxyz"
    ),
    split: Annotated[str, typer.Option(help="train, gentle or difficult.")] = "train",
    run: Annotated[
        str, typer.Option(help="The run whose structures to write (main: hyperal run).")
    ] = MAIN_RUN,
    store: Annotated[
        Path | None, typer.Option(help="Store path (default: the config's).")
    ] = None,
):
    """The labelled structures of a split as extxyz with REF_energy / REF_forces
    (REF_stress) for other fitting codes (pacemaker, MACE, NequIP)."""

    if split not in ("train", "gentle", "difficult"):
        fail(f"--split must be train, gentle or difficult, got {split!r}")
    check_output(output)
    opened = _store(config_path, store)
    images = opened.labelled(split=split, runs=[run])
    if not images:
        runs = sorted(
            {
                row.get("run", MAIN_RUN)
                for row in opened.rows(Where(status=OracleStatus.OK))
            }
        )
        fail(
            f"no labelled {split} structures of run {run!r} in the store "
            f"(runs with labels: {', '.join(runs) or 'none yet'})"
        )
    out = [with_ref_keys(atoms, k) for k, atoms in enumerate(images)]
    write(output, out, format="extxyz")
    console.print(f"wrote {len(out)} {split} structures to {output}")
