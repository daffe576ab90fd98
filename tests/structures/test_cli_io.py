"""Writers, the figure helper and the ``hyperal structures`` command line."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from hyperal.cli.main import app
from hyperal.structures import (
    derive_structures,
    known_structures,
    read_structures,
    write_structures,
)
from hyperal.structures.plot import plot_derived

runner = CliRunner()


@pytest.mark.parametrize("suffix", [".extxyz", ".db"])
def test_structures_round_trip_with_their_info(tmp_path, suffix):
    parents = known_structures("fluorite", {"cation": ["Zr", "Hf"]}, n=2, rng=0)
    structures = parents + derive_structures(parents, 3, kind="oxide", rng=1)
    path = tmp_path / f"set{suffix}"
    assert write_structures(structures, path) == 5
    back = read_structures(path)
    assert len(back) == 5
    for a, b in zip(structures, back, strict=True):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-7)
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
        assert b.info["source"] == a.info["source"]
    assert back[3].info["von_mises_strain"] == pytest.approx(
        structures[3].info["von_mises_strain"]
    )
    np.testing.assert_allclose(
        back[3].arrays["displacement"], structures[3].arrays["displacement"], atol=1e-7
    )
    write_structures(structures[:1], path, append=True)
    assert len(read_structures(path)) == 6
    write_structures(structures[:2], path)  # replaces
    assert len(read_structures(path)) == 2


def test_db_rows_are_selectable_by_source(tmp_path):
    from ase.db import connect

    structures = known_structures("fcc", "Cu") + derive_structures(
        known_structures("fcc", "Cu", repeat=(2, 2, 2)), 2, rng=0
    )
    write_structures(structures, tmp_path / "s.db")
    db = connect(tmp_path / "s.db")
    assert db.count(source="derived") == 2 and db.count(prototype="fcc") == 1


def test_plot_derived_writes_a_figure(tmp_path):
    derived = derive_structures(
        known_structures("bcc", "Nb", repeat=(3, 3, 3)), 10, rng=0
    )
    fig = plot_derived(derived, tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 10_000
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="derived"):
        plot_derived(known_structures("bcc", "Nb"))


def test_cli_builds_every_source(tmp_path):
    k = tmp_path / "k.extxyz"
    result = runner.invoke(
        app,
        [
            "structures",
            "known",
            "bcc",
            "-s",
            "Nb,Ti,Zr",
            "--n",
            "2",
            "--min-atoms",
            "16",
            "--seed",
            "0",
            "-o",
            str(k),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 2 structures" in result.output
    assert len(read_structures(k)) == 2

    result = runner.invoke(
        app,
        [
            "structures",
            "enumerate",
            "--lattice",
            "bcc",
            "--a",
            "3.4",
            "--host",
            "Nb,Ti",
            "--sizes",
            "2",
            "--count",
        ],
    )
    assert result.exit_code == 0 and "4 decorations" in result.output

    e = tmp_path / "e.db"
    result = runner.invoke(
        app,
        [
            "structures",
            "enumerate",
            "--lattice",
            "bcc",
            "--a",
            "3.4",
            "--host",
            "Nb,Ti,Zr",
            "--interstitial",
            "O",
            "--sizes",
            "1",
            "-o",
            str(e),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(read_structures(e)) == 12

    d = tmp_path / "d.extxyz"
    fig = tmp_path / "d.png"
    result = runner.invoke(
        app,
        [
            "structures",
            "derive",
            str(k),
            str(e),
            "--n",
            "5",
            "--species",
            "metal=Nb,Ti,Zr",
            "--deletion-probability",
            "0.1",
            "--seed",
            "1",
            "-o",
            str(d),
            "--figure",
            str(fig),
        ],
    )
    assert result.exit_code == 0, result.output
    derived = read_structures(d)
    assert len(derived) == 5 and fig.exists()
    assert all(a.info["deletion_probability"] == 0.1 for a in derived)

    r = tmp_path / "r.extxyz"
    result = runner.invoke(
        app,
        [
            "structures",
            "random",
            "--cutoff",
            "5",
            "--elements",
            "Nb,Ti,Zr",
            "--interstitial",
            "O=0,0.3",
            "--density",
            "5,6.5",
            "--n",
            "3",
            "--seed",
            "2",
            "-o",
            str(r),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(read_structures(r)) == 3

    result = runner.invoke(app, ["structures", "soi", "--cutoff", "6"])
    assert result.exit_code == 0 and "12.000" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["known", "perovskite", "-s", "Sr", "-o", "x.xyz"], "prototype"),
        (["known", "fcc", "-s", "Cu", "--lattice", "a", "-o", "x.xyz"], "key=value"),
        (
            [
                "random",
                "--cutoff",
                "5",
                "--composition",
                "Cu=1",
                "--density",
                "30,40",
                "-o",
                "x.xyz",
            ],
            "--density: gives",  # the command's option, not the file's key
        ),
        (
            [
                "enumerate",
                "--lattice",
                "bcc",
                "--a",
                "3.3",
                "--host",
                "Nb,Ti,Zr",
                "--interstitial",
                "O",
                "--sizes",
                "9",
                "--count",
            ],
            "sizes: about",
        ),
        (["derive", "nothing.xyz", "--kind", "glass", "-o", "x.xyz"], "--kind"),
    ],
)
def test_cli_errors_are_one_clear_line(tmp_path, args, words):
    result = runner.invoke(app, ["structures", *args])
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output
