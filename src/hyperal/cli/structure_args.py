"""What the `hyperal structures` commands share: option types, parsing of
comma-separated values and species, checked inputs, the extxyz writer."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from hyperal.cli.common import console, fail
from hyperal.structures import (
    read_structures,
    write_structures,
)

Output = Annotated[
    Path,
    typer.Option(
        "--output", "-o", help="File to write: .extxyz/.xyz, .db, or any ase.io format."
    ),
]


def read_all(inputs) -> list:
    """Every structure of the input files; one that cannot be read is an
    ``error:`` line naming it."""
    try:
        return [atoms for path in inputs for atoms in read_structures(path)]
    except ValueError as exc:
        fail(str(exc))


Seed = Annotated[
    int | None,
    typer.Option(min=0, help="Random seed >= 0 (reproducible output); none: fresh."),
]


Append = Annotated[
    bool, typer.Option(help="Append to the output instead of replacing it.")
]


def parse_floats(text: str, name: str, count: int | None = None) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail(f"{name}: expected comma-separated numbers, got {text!r}")
    if count is not None and len(values) != count:
        fail(f"{name}: expected {count} numbers, got {text!r}")
    return values


def parse_ints(text: str, name: str, count: int | None = None) -> list[int]:
    values = parse_floats(text, name, count)
    if any(not math.isfinite(v) or v != int(v) or v < 1 for v in values):
        fail(f"{name}: expected whole numbers >= 1, got {text!r}")
    return [int(v) for v in values]


def check_positive(value: float | None, name: str, *, zero: bool = False) -> None:
    if value is not None and not (
        math.isfinite(value) and (value >= 0 if zero else value > 0)
    ):
        fail(f"{name}: expected a number {'>=' if zero else '>'} 0, got {value}")


def parse_pairs(items: list[str], name: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"{name}: expected key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def parse_species(text: str) -> list[str] | dict[str, float]:
    """ "Nb,Ti,Zr" -> list; "Nb:0.5,Ti:0.5" -> fractions."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if any(":" in p for p in parts):
        out = {}
        for p in parts:
            symbol, _, value = p.partition(":")
            out[symbol] = float(value) if value else 1.0
        return out
    return parts


def check_inputs(paths: list[Path]) -> None:
    for path in paths:
        if not str(path).startswith("postgres") and not path.is_file():
            fail(f"{path}: no such file")


def write_output(structures, output: Path, append: bool) -> None:
    count = write_structures(structures, output, append=append)
    console.print(f"wrote {count} structures to {output}")
