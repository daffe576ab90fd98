"""What a user reads: messages printed literally (rich markup never eats a
bracketed word such as an install hint's extra), one ``error:`` line per
problem naming the file and the key, a run refused before it starts leaves
nothing behind, and tables that keep every figure whole at 80 columns."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
import yaml
from rich.console import Console

from tests.campaign.conftest import tiny


def _hyperal(*args, cwd=None):
    code = (
        "import sys; sys.argv[0] = 'hyperal'; from hyperal.cli.main import main; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd
    )


def test_an_install_hint_keeps_its_extra(capsys):
    """rich would read ``[chgnet]`` as a style tag and print
    ``pip install 'hyperal'`` — a hint that installs nothing."""
    import typer

    from hyperal.cli.common import fail

    with pytest.raises(typer.Exit):
        fail("oracle.name: needs pip install -c constraints.txt 'hyperal[chgnet]'")
    err = capsys.readouterr().err
    assert err.strip() == (
        "error: oracle.name: needs pip install -c constraints.txt 'hyperal[chgnet]'"
    )


def test_paths_and_keys_with_brackets_are_printed_literally(tmp_path):
    folder = tmp_path / "runs[1]"
    folder.mkdir()
    config = folder / "campaign[bold].yaml"
    data = tiny(folder)
    data["system"]["elements"] = ["Cu", "Ni", "Pd", "Xx"]
    config.write_text(yaml.safe_dump(data))
    done = _hyperal("run", str(config))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: {config}: system.elements[3]: 'Xx' is not an element"
    )
    done = _hyperal("status", str(folder / "gone[x].yaml"))
    assert done.stderr.strip() == f"error: {folder / 'gone[x].yaml'}: no such file"


def test_each_problem_of_a_file_is_one_error_line_naming_file_and_key(tmp_path):
    config = tmp_path / "campaign.yaml"
    data = tiny(tmp_path)
    data["loopz"] = 3
    data["counts"]["random"] = -1
    config.write_text(yaml.safe_dump(data))
    done = _hyperal("run", str(config))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr
    assert all(line.startswith(f"error: {config}: ") for line in lines)
    prefix = f"error: {config}: "
    keys = sorted(line.removeprefix(prefix).split(":")[0] for line in lines)
    assert keys == ["counts.random", "loopz"]
    assert not (tmp_path / "campaign.db").exists()


def test_a_slurm_run_that_cannot_submit_leaves_no_store_and_no_lock(
    tmp_path, monkeypatch
):
    """The Slurm executor is checked before the store is opened: without
    sbatch the run is one ``error:`` line and the folder is as it was."""
    from typer.testing import CliRunner

    import hyperal.runs.slurm as slurm
    from hyperal.cli.main import app

    monkeypatch.setattr(slurm.shutil, "which", lambda name: None)
    config = tmp_path / "campaign.yaml"
    data = tiny(tmp_path)
    data["executor"] = {"kind": "slurm", "queue": "compute"}
    config.write_text(yaml.safe_dump(data))
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(app, ["run", str(config)])
    assert result.exit_code == 2, result.output
    assert "error: executor.kind: slurm submits jobs with sbatch" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_tables_keep_every_figure_whole_at_80_columns():
    """rich's own collapsing cuts a figure to ``459…`` when an 11-column
    table meets an 80-column terminal; print_table wraps headers and text
    between words and splits the columns over several tables instead."""
    from hyperal.cli.common import print_table
    from hyperal.report import SUMMARY_COLUMNS

    rows = [
        [str(loop), "45912", "13", "1287", "13/0/0", "bpnn warm 26 ep 143 s", "12m05s"]
        + ["459.7", "3396", "1218.8", "21043", "8.8"]
        for loop in range(4)
    ]
    out = io.StringIO()
    console = Console(file=out, width=80, markup=False, color_system=None)
    print_table(console, "hyperal campaign", SUMMARY_COLUMNS, rows)
    text = out.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    tokens = re.findall(r"[\w./]+", text)
    for row in rows:
        for cell in row:
            for word in cell.split():
                assert word in tokens, (word, text)
    # every part repeats the loop column, so a row can be read across parts
    assert text.count("loop") >= 2
    # what rich alone does with the same table (the behaviour this replaces)
    from rich.table import Table

    plain = Table(title="hyperal campaign")
    for column in SUMMARY_COLUMNS:
        plain.add_column(column, justify="right")
    for row in rows:
        plain.add_row(*row)
    cut = io.StringIO()
    Console(file=cut, width=80, color_system=None).print(plain)
    assert "…" in cut.getvalue()
