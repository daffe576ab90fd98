"""``hyperal hops``: hop-path environments of an alloy, counted by symmetry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from ase.data import chemical_symbols
from ase.io import write

from hyperal.barriers import (
    CONVENTIONS,
    decorated_cell,
    load_case,
    path_environment,
    representatives,
    sample,
)
from hyperal.cli.common import check_output, console, fail
from hyperal.structures.limits import check_structures

app = typer.Typer(
    help=(
        "Hop-path environments: the neighbourhood of a hop (a vacancy to a "
        "nearest neighbour, an interstitial between sites), counted, listed or "
        "sampled up to the path's symmetry. CASE is a named hop (bcc-vacancy, "
        "bcc-octahedral, fcc-vacancy) or a YAML file defining one."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

Case = Annotated[
    str, typer.Argument(help="bcc-vacancy, bcc-octahedral, fcc-vacancy or a YAML file.")
]
Species = Annotated[
    str,
    typer.Option(
        help="The alloy's species, e.g. Nb,Ti,Zr (count also takes their number, 3)."
    ),
]
Lattice = Annotated[
    float | None,
    typer.Option(
        "--a", help="Lattice parameter (Å); named hops: 3.3 (bcc), 3.6 (fcc)."
    ),
]
Seed = Annotated[
    int | None, typer.Option(min=0, help="Random seed (reproducible output).")
]


def _environment(case: str, a: float | None):
    if a is not None and not a > 0:
        fail(f"--a: expected a number > 0, got {a}")
    try:
        return path_environment(load_case(case, a=a))
    except ValueError as exc:
        fail(str(exc))


def _species(text: str, *, names: bool) -> list[str]:
    text = text.strip()
    if text.isdigit() and not names:
        if int(text) < 1:
            fail(f"--species: expected at least one species, got {text}")
        return [str(i) for i in range(int(text))]
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in symbols if s not in chemical_symbols[1:]]
    if not symbols or bad:
        what = "element symbols, e.g. Nb,Ti,Zr" + ("" if names else ", or a number")
        fail(f"--species: expected {what}; got {text!r}")
    if len(set(symbols)) != len(symbols):
        fail(f"--species: a species given twice in {text!r}")
    return symbols


def _conventions(convention: str) -> list[str]:
    if convention == "both":
        return list(CONVENTIONS)
    if convention not in CONVENTIONS:
        fail(f"--convention: expected directed, undirected or both, got {convention!r}")
    return [convention]


@app.command()
def count(
    case: Case,
    species: Species,
    convention: Annotated[
        str,
        typer.Option(
            help="directed (a hop and its reverse differ), undirected (they are "
            "one), or both."
        ),
    ] = "both",
    a: Lattice = None,
):
    """One line per convention: `<convention> sites=<n> group_order=<g>
    count=<integer>` — symmetry-distinct hops by Burnside's lemma (exact)."""
    env = _environment(case, a)
    k = len(_species(species, names=False))
    for c in _conventions(convention):
        console.print(
            f"{c} sites={env.n_sites} group_order={env.group_order(c)} "
            f"count={env.total(k, c)}",
            highlight=False,
        )
    if env.case.kind == "vacancy":
        console.print(
            f"(the count includes a factor {k}: the species of the atom that hops)",
            highlight=False,
        )


def _write(env, rows, symbols, output, seed, convention):
    hopping = symbols if env.case.kind == "vacancy" else [None]
    structures = []
    for k, decoration in enumerate(rows):
        for atom in hopping:
            cell = decorated_cell(
                env, decoration, symbols, hopping=atom, rng=(seed or 0) + k
            )
            cell.info["convention"] = convention
            structures.append(cell)
    write(output, structures, format="extxyz")
    console.print(f"wrote {len(structures)} hop structures to {output}")


@app.command("list")
def list_(
    case: Case,
    species: Species,
    output: Annotated[Path, typer.Option("--output", "-o", help="extxyz file.")],
    convention: Annotated[str, typer.Option(help="directed or undirected.")] = (
        "directed"
    ),
    a: Lattice = None,
    seed: Seed = None,
):
    """Every distinct environment (its smallest decoration) as a decorated
    supercell; the sites outside the neighbourhood drawn at random (seeded).
    A vacancy hop gets one structure per species of the hopping atom."""

    (convention,) = _conventions(convention)
    check_output(output)
    env = _environment(case, a)
    symbols = _species(species, names=True)

    try:
        total = env.total(len(symbols), convention)
        check_structures(total, f"list ({convention})")
        rows = representatives(env, len(symbols), convention)
    except ValueError as exc:
        fail(f"{exc}; draw some with `hyperal hops sample`")
    _write(env, rows, symbols, output, seed, convention)


@app.command("sample")
def sample_(
    case: Case,
    species: Species,
    n: Annotated[int, typer.Option(help="Distinct environments to draw.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="extxyz file.")],
    convention: Annotated[str, typer.Option(help="directed or undirected.")] = (
        "directed"
    ),
    a: Lattice = None,
    seed: Seed = None,
):
    """`n` distinct environments drawn uniformly over the symmetry-distinct
    ones, as decorated supercells."""

    (convention,) = _conventions(convention)
    check_output(output)
    env = _environment(case, a)
    symbols = _species(species, names=True)
    try:
        check_structures(n, "--n")
        rows = sample(env, len(symbols), n, convention, rng=seed)
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))
    _write(env, rows, symbols, output, seed, convention)
