"""``hyperal testset``: an independent, stratified robustness test set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hyperal.cli.common import (
    check_output,
    console,
    fail,
    print_table,
    table_console,
)
from hyperal.runs.settings import ConfigError, load_with
from hyperal.testsets import build_test_set, parse_recipe


def testset(
    recipe_path: Annotated[Path, typer.Argument(help="The recipe YAML file.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="The extxyz file to write (REF_energy, REF_forces; "
            "info['source'] = the stratum). Written one structure at a time; "
            "an existing file of the same recipe is resumed.",
        ),
    ],
):
    """Build a labelled robustness test set from a recipe.

    Each stratum of the recipe — MD snapshots at several temperatures,
    vacancies, divacancies, surfaces, hydrostatic or shear strain, random
    structures, derived oxides, rattled crystals — is drawn from its own
    random stream (the recipe's seed and the stratum's name, never a
    campaign's starts) and labelled by the recipe's oracle. Structures
    beyond the recipe's physical `limits` are counted and left out; they and
    failed labels are recorded in `<output>.left_out.jsonl`, so a rerun does
    not pay for them again. Use the file in a benchmark's `test_sets` to rank
    schemes on structures none of them explored.
    """

    try:
        recipe = load_with(recipe_path, parse_recipe)
    except ConfigError as exc:
        fail(str(exc))
    check_output(output)
    if output.suffix not in (".xyz", ".extxyz"):
        fail(f"--output: {output}: give an .extxyz (or .xyz) file")

    def progress(stratum: str, done: int, total: int) -> None:
        if done == total:
            console.print(f"{stratum}: {total} candidates done", highlight=False)

    try:
        reports = build_test_set(recipe, output, progress=progress)
    except ValueError as exc:
        fail(str(exc))
    header = [
        "stratum",
        "kind",
        "requested",
        "written",
        "failed",
        "beyond limits",
        "RMS |F| eV/Å",
        "max |F| eV/Å",
    ]
    rows = [list(map(str, report.row())) for report in reports]
    print_table(table_console(), str(output), header, rows, left=2)
    written = sum(r.written for r in reports)
    console.print(f"{written} labelled structures in {output}", highlight=False)
