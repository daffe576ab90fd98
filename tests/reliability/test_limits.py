"""Sizes that cannot fit are refused before any work, with an estimate;
values out of range are refused, never silently changed; every mistake in
`hyperal structures` is one `error:` line with exit status 2."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from hyperal.campaign.validate import parse_config
from hyperal.cli.main import app
from hyperal.runs.settings import ConfigError
from hyperal.structures import known_structures
from tests.campaign.conftest import tiny

KNOWN = ["structures", "known", "fcc", "-s", "Cu"]
RANDOM = ["structures", "random", "--cutoff", "4", "--composition", "Cu=1"]
ENUM = ["structures", "enumerate", "--lattice", "fcc", "--host", "Cu,Ni"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (KNOWN + ["--repeat", "1.5,1,1"], "--repeat: expected whole numbers >= 1"),
        (KNOWN + ["--min-atoms", "100000000"], "min_atoms: 100,000,000 atoms in one"),
        (KNOWN + ["--n", "1000000000"], "n: 1,000,000,000 structures exceeds the"),
        (KNOWN + ["--n", "-2"], "n must be an integer >= 1, got -2"),
        (KNOWN + ["--min-width", "-3"], "min_width_A must be a finite number >= 0"),
        (KNOWN + ["--min-width", "1000"], "min_width_A: 85,015,732 atoms"),
        (KNOWN + ["--repeat", "100,100,100"], "repeat (100, 100, 100): 4,000,000"),
        (KNOWN + ["--lattice", "a=-3.6"], "lattice['a'] must be a finite number > 0"),
        (KNOWN + ["--lattice", "a=abc"], "--lattice a: expected comma-separated"),
        (RANDOM + ["--cutoff", "-5", "--density", "8,9"], "--cutoff: expected a"),
        (RANDOM + ["--n-atoms", "0"], "--n-atoms: expected whole numbers >= 1"),
        (RANDOM + ["--n-atoms", "1.5"], "--n-atoms: expected whole numbers >= 1"),
        (RANDOM + ["--n", "-3", "--density", "8,9"], "--n: expected a whole number"),
        (RANDOM + ["--n", "1000000000", "--density", "8,9"], "--n: 1,000,000,000"),
        # a huge cell is the cutoff's doing, named as the command's option
        (
            RANDOM + ["--cutoff", "400", "--density", "8,9"],
            "--cutoff: 400 Å makes a 600.0 Å cubic cell; at a density up to 9 "
            "g/cm³: 18,4",
        ),
        (RANDOM + ["--density", "80,90"], "--density: gives"),
        (RANDOM + ["--n-atoms", "30000"], "--n-atoms: 30,000 atoms in one"),
        (
            RANDOM + ["--criterion", "-2", "--density", "8,9"],
            "--criterion: must be an operating point",
        ),
        (ENUM + ["--a", "3.6", "--sizes", "1000", "--count"], "sizes: supercells of"),
        (ENUM + ["--a", "-3.6", "--sizes", "2", "--count"], "--a: expected a number"),
        (["structures", "soi", "--cutoff", "-2"], "--cutoff: expected a number > 0"),
        (["structures", "derive", "missing.xyz"], "missing.xyz: no such file"),
    ],
)
def test_structures_mistakes_are_one_error_line(tmp_path, args, error):
    args = [a.replace("missing.xyz", str(tmp_path / "missing.xyz")) for a in args]
    if "soi" not in args and "--count" not in args:
        args += ["-o", str(tmp_path / "out.extxyz")]
    start = time.perf_counter()
    result = CliRunner().invoke(app, args)
    assert time.perf_counter() - start < 10  # refused, not attempted
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert text.startswith("error: ") and error in text, text
    assert not (tmp_path / "out.extxyz").exists()


def test_a_missing_output_folder_is_refused_before_work(tmp_path):
    out = tmp_path / "no" / "x.extxyz"
    result = CliRunner().invoke(app, [*KNOWN, "-o", str(out)])
    assert result.exit_code == 2
    assert " ".join(result.output.split()) == (
        f"error: --output: folder {out.parent} does not exist"
    )


def test_limits_are_raised_by_their_environment_variable(monkeypatch):
    with pytest.raises(ValueError, match="exceeds the limit of 20,000 atoms"):
        known_structures("fcc", "Cu", repeat=(20, 20, 20))  # 32,000 atoms
    monkeypatch.setenv("HYPERAL_MAX_ATOMS", "40000")
    (big,) = known_structures("fcc", "Cu", repeat=(20, 20, 20))
    assert len(big) == 32_000
    monkeypatch.setenv("HYPERAL_MAX_ATOMS", "many")
    with pytest.raises(ValueError, match="HYPERAL_MAX_ATOMS: expected a positive"):
        known_structures("fcc", "Cu")


def test_a_campaign_too_large_to_build_or_fit_is_refused_at_load(tmp_path):
    data = tiny(tmp_path)
    data["system"]["metal_phases"][0]["repeat"] = [100, 100, 100]
    data["system"]["random"]["cutoff_A"] = 400.0
    data["committee"]["hidden"] = [200000, 200000]
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    lines = str(error.value).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "system.metal_phases[0]",
        "system.random.cutoff_A",
        "committee.hidden",
    ]
    assert "4,000,000 atoms in one structure" in lines[0]
    assert "400 Å makes a 600.0 Å cubic cell" in lines[1]
    assert "atoms in one structure" in lines[1]
    # 8 members × 3 elements × (F·200000 + ... ) weights, F the descriptor length
    assert (
        "weights in the committee" in lines[2] and "HYPERAL_MAX_PARAMETERS" in lines[2]
    )


def test_a_huge_initial_data_set_is_refused_with_its_oracle_calls(tmp_path):
    data = tiny(tmp_path, initial={"structures": 10**8})
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value) == (
        "initial.structures (up to 700,000,000 oracle calls for their relaxations "
        "of initial.relax_steps = 6): 100,000,000 structures exceeds the limit of "
        "100,000; set HYPERAL_MAX_STRUCTURES to allow more"
    )


def test_a_campaign_whose_loops_would_not_fit_in_memory_is_refused(tmp_path):
    data = tiny(tmp_path)
    data["scheme"]["steps"] = 10**8
    data["counts"]["random"] = 10**6
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value).splitlines() == [
        "counts.derived_metal + counts.derived_oxide + counts.random (5 + 0 + "
        "1,000,000 starts per loop): 1,000,005 structures exceeds the limit of "
        "100,000; set HYPERAL_MAX_STRUCTURES to allow more",
        "scheme.steps: 100,000,001 recorded frames of up to 32 atoms per evolution "
        "(about 166.9 GB in a worker) exceeds the limit of 100,000,000 frame-atoms; "
        "record fewer frames (scheme.params.record_every) or set "
        "HYPERAL_MAX_FRAME_ATOMS",
    ]
    data["scheme"]["params"] = {"record_every": 100}
    data["counts"]["random"] = 2
    assert parse_config(data).scheme.steps == 10**8
