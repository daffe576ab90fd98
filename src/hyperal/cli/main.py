"""``hyperal``: the command-line entry point."""

from __future__ import annotations

import typer

from hyperal.cli import structures

app = typer.Typer(
    help="hyperal: robust MLIPs from the fewest reference calculations.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(structures.app, name="structures")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
