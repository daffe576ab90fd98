"""An unexpected failure is one `error:` line with exit status 1, and
`--debug` shows its traceback; a mistake in the input is exit status 2."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.campaign.conftest import tiny

BROKEN = """
import sys
from hyperal.runs.store import Store
def broken(self, run="main"):
    raise RuntimeError("the disk [went] away")
Store.metrics = broken
from hyperal.cli.main import main
sys.argv = ["hyperal", *sys.argv[1:]]
main()
"""


def _hyperal(*args):
    return subprocess.run(
        [sys.executable, "-c", BROKEN, *args], capture_output=True, text=True
    )


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path):
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(tiny(tmp_path)))
    (tmp_path / "campaign.db").write_bytes(b"")  # an empty store file
    done = _hyperal("status", str(config))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("error: RuntimeError: the disk [went] away")
    assert "--debug" in lines[0]
    done = _hyperal("--debug", "status", str(config))
    assert done.returncode == 1 and "Traceback" in done.stderr
    assert "RuntimeError: the disk [went] away" in done.stderr
    # a mistake in the input: exit status 2
    done = _hyperal("status", str(tmp_path / "nothing.yaml"))
    assert done.returncode == 2 and done.stderr.startswith("error:")


def _plain(*args, cwd=None):
    # as the `hyperal` script does (so the messages name `hyperal`)
    code = (
        "import sys; sys.argv[0] = 'hyperal'; from hyperal.cli.main import main; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_usage_errors_are_one_error_line_with_status_2(tmp_path):
    cases = {
        ("bogus",): "error: No such command 'bogus'. (see `hyperal --help`)",
        ("structures", "known", "fcc"): "error: Missing option '--species' / '-s'. "
        "(see `hyperal structures known --help`)",
        ("structures", "known", "fcc", "-s", "Cu", "--n", "abc"): "error: Invalid "
        "value for '--n': Input should be a valid integer, unable to parse string as "
        "an integer (see `hyperal structures known --help`)",
        (
            "init",
            str(tmp_path / "no" / "c.yaml"),
        ): f"error: {tmp_path / 'no' / 'c.yaml'}"
        f": folder {tmp_path / 'no'} does not exist",
    }
    for args, line in cases.items():
        done = _plain(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert " ".join(done.stderr.split()) == line
        assert "Traceback" not in done.stderr + done.stdout
    # no arguments: the help, as before
    done = _plain()
    assert done.returncode == 2 and "structures" in done.stdout
    done = _plain("--help")
    assert done.returncode == 0 and "benchmark" in done.stdout


def test_export_and_report_name_what_is_missing(tmp_path):
    from typer.testing import CliRunner

    from hyperal.cli.main import app
    from hyperal.runs import Store

    data = tiny(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    Store(data["store"])  # an empty store
    runner = CliRunner()
    out = tmp_path / "x.extxyz"
    result = runner.invoke(
        app, ["export", str(config), "-o", str(out), "--run", "mian"]
    )
    assert result.exit_code == 2 and not out.exists()
    assert " ".join(result.output.split()) == (
        "error: no labelled train structures of run 'mian' in the store "
        "(runs with labels: none yet)"
    )
    for command in ("export", "report"):
        target = tmp_path / "no" / "out"
        result = runner.invoke(app, [command, str(config), "-o", str(target)])
        assert result.exit_code == 2
        assert " ".join(result.output.split()) == (
            f"error: --output: folder {target.parent} does not exist"
        )


def test_a_file_given_to_the_wrong_command_names_the_right_one(tmp_path):
    """`hyperal run` on a benchmark, barrier or test-set file (and the other
    way round) is one line saying which command reads it, before anything
    else is checked."""
    from pathlib import Path

    from typer.testing import CliRunner

    from hyperal.cli.main import app

    examples = Path(__file__).parents[2] / "examples"
    cases = [
        (["run"], "benchmark-emt.yaml", "hyperal benchmark <file>"),
        (["run"], "barriers-emt.yaml", "hyperal barriers run <file>"),
        (["run"], "testset-emt.yaml", "hyperal testset <file>"),
        (["benchmark"], "campaign_demo.yaml", "hyperal run <file>"),
        (["barriers", "run"], "campaign_demo.yaml", "hyperal run <file>"),
    ]
    for command, name, hint in cases:
        result = CliRunner().invoke(app, [*command, str(examples / name)])
        assert result.exit_code == 2, result.output
        # one line: the error, the file, the key (never the file on a line
        # of its own)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1, result.output
        assert lines[0].startswith(
            f"error: {examples / name}: (top level): this is a"
        ), result.output
        assert f"`{hint}" in lines[0]
