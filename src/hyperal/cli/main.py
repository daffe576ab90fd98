"""``hyperal``: the command-line entry point."""

from __future__ import annotations

import typer

from hyperal.cli import benchmark, campaign, structures

app = typer.Typer(
    help="hyperal: robust MLIPs from the fewest reference calculations.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(structures.app, name="structures")
for command in (
    campaign.init,
    campaign.run,
    campaign.status,
    campaign.report,
    campaign.export,
    benchmark.benchmark,
):
    app.command()(command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
