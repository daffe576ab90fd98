"""``hyperal``: the command-line entry point.

Exit status: 0 done, 2 a mistake in the input (one ``error:`` line naming
it), 1 a failure the input could not have shown (one ``error:`` line with the
exception; ``hyperal --debug ...`` or ``HYPERAL_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import os
import signal
import sys

import typer

from hyperal.cli import barriers, benchmark, campaign, hops, plan, structures, testset
from hyperal.cli.common import error_line

app = typer.Typer(
    help="hyperal: robust MLIPs from the fewest reference calculations.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
app.add_typer(structures.app, name="structures")
app.add_typer(hops.app, name="hops")
app.add_typer(barriers.app, name="barriers")
for command in (
    campaign.init,
    plan.plan,
    campaign.run,
    campaign.status,
    campaign.report,
    campaign.export,
    benchmark.benchmark,
    testset.testset,
):
    app.command()(command)

_state = {"debug": False}


@app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of an unexpected error."
    ),
) -> None:
    """hyperal: robust MLIPs from the fewest reference calculations."""
    _state["debug"] = debug


class Terminated(BaseException):
    """SIGTERM (a batch system's time limit, ``kill``): raised in the main
    thread so every ``with`` block unwinds — process workers are stopped, the
    store's lock released — before the command exits 143."""


def _terminated(signum, frame):
    raise Terminated


def main() -> None:
    """The ``hyperal`` command: an unexpected error is one line (exit 1)
    unless ``--debug`` (or ``HYPERAL_DEBUG=1``) asks for its traceback."""
    try:  # typer >= 0.20 carries its own copy of click
        from typer._click import exceptions as usage
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click import exceptions as usage

    signal.signal(signal.SIGTERM, _terminated)
    try:
        # not standalone: a usage error comes here, to be one `error:` line
        # (click would draw it in a box over several lines)
        status = app(standalone_mode=False)
    except SystemExit:
        raise
    except usage.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(2)
    except usage.UsageError as exc:
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        error_line(" ".join(exc.format_message().split()) + where)
        sys.exit(2)
    except usage.ClickException as exc:
        error_line(" ".join(exc.format_message().split()))
        sys.exit(exc.exit_code)
    except typer.Abort:
        error_line("interrupted (run again to resume)")
        sys.exit(130)
    except KeyboardInterrupt:
        error_line("interrupted (run again to resume)")
        sys.exit(130)
    except Terminated:
        error_line(
            "terminated (SIGTERM; what was stored is kept, a campaign resumes "
            "when run again)"
        )
        sys.exit(143)
    except Exception as exc:
        if _state["debug"] or os.environ.get("HYPERAL_DEBUG"):
            raise
        text = " ".join(str(exc).split())
        error_line(
            f"{type(exc).__name__}: {text} (hyperal --debug ... shows the traceback)"
        )
        sys.exit(1)
    if status == 130:  # typer turns Ctrl-C into a silent exit status 130
        error_line("interrupted (run again to resume)")
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
