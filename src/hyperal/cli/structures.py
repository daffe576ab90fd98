"""``hyperal structures``: build starting structures and write them to extxyz or
an ase.db."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from ase.build import bulk

from hyperal.cli.common import check_output as _check_output
from hyperal.cli.common import console, fail, print_table, table_console
from hyperal.cli.structure_args import (
    Append,
    Output,
    Seed,
    check_inputs,
    check_positive,
    parse_floats,
    parse_ints,
    parse_pairs,
    parse_species,
    read_all,
    write_output,
)
from hyperal.structures import (
    OPERATING_POINTS,
    PROTOTYPES,
    PlacementError,
    count_decorations,
    derive_structures,
    enumerate_decorations,
    estimate_count,
    interstitial_parent,
    known_structures,
    random_structures,
    sample_compositions,
    soi_metrics,
)
from hyperal.structures.derive import DEFAULTS
from hyperal.structures.limits import check_structures
from hyperal.structures.plot import plot_derived
from hyperal.utils import ParameterError

app = typer.Typer(
    help=(
        "Build starting structures (docs/method.md §1) and write them to an extxyz "
        "file or "
        "an ase.db (by the output's suffix: .db/.json or a postgresql:// URL is a "
        "database, anything else goes through ase.io, .xyz/.extxyz as extxyz). "
        "Every structure carries info['source'] and its parameters."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command()
def known(
    prototype: Annotated[
        str, typer.Argument(help=f"Prototype: {', '.join(PROTOTYPES)}.")
    ],
    species: Annotated[
        list[str],
        typer.Option(
            "--species",
            "-s",
            help=(
                "Species per sublattice, repeatable: 'metal=Nb,Ti,Zr' (equal "
                "shares at random), 'cation=Zr', 'anion=O' (the default anion), "
                "'metal=Nb:0.5,Ti:0.5' (fractions); X is a vacancy. For one-"
                "sublattice metals the 'metal=' may be left out."
            ),
        ),
    ],
    output: Output,
    lattice: Annotated[
        list[str],
        typer.Option(
            help="Lattice parameter, repeatable: a=3.3, c=5.1 (Å), beta=99.2 (°), "
            "u=0.305; missing ones from the default table by Vegard's rule."
        ),
    ] = [],  # noqa: B006 - typer reads the default
    n: Annotated[int, typer.Option(help="Structures (random decorations differ).")] = 1,
    repeat: Annotated[
        str | None, typer.Option(help="Supercell N1,N2,N3 of the conventional cell.")
    ] = None,
    min_atoms: Annotated[int, typer.Option(help="Smallest supercell size.")] = 1,
    min_width: Annotated[
        float, typer.Option(help="Smallest perpendicular cell width (Å).")
    ] = 0.0,
    seed: Seed = None,
    append: Append = False,
):
    """Supercells of a known prototype phase (bcc, fcc, hcp, omega, rocksalt,
    fluorite, rutile, monoclinic ZrO2), decorated per sublattice."""
    spec: dict = {}
    for item in species:
        key, sep, value = item.partition("=")
        if sep:
            spec[key.strip()] = parse_species(value)
        else:
            spec = parse_species(item)
    _check_output(output)
    params = {}
    for key, value in parse_pairs(lattice, "--lattice").items():
        (params[key],) = parse_floats(value, f"--lattice {key}", 1)
    reps = None if repeat is None else parse_ints(repeat, "--repeat", 3)
    try:
        structures = known_structures(
            prototype,
            spec,
            n=n,
            lattice=params or None,
            repeat=reps,
            min_atoms=min_atoms,
            min_width_A=min_width,
            rng=seed,
        )
    except ValueError as exc:
        fail(str(exc))
    write_output(structures, output, append)


@app.command("enumerate")
def enumerate_(
    lattice: Annotated[str, typer.Option(help="Parent lattice: bcc or fcc.")],
    a: Annotated[float, typer.Option(help="Cubic lattice parameter (Å).")],
    host: Annotated[
        str,
        typer.Option(help="Species of the lattice sites, e.g. Nb,Ti,Zr (X: vacancy)."),
    ],
    sizes: Annotated[
        int, typer.Option(help="Largest supercell, in primitive cells (1..sizes).")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (not needed with --count)."),
    ] = None,
    interstitial: Annotated[
        str | None,
        typer.Option(
            help="Interstitial species, e.g. O: each interstitial site holds it or a "
            "vacancy."
        ),
    ] = None,
    sites: Annotated[
        str,
        typer.Option(
            help="Interstitial sites: octahedral (bcc, fcc), tetrahedral (fcc)."
        ),
    ] = "octahedral",
    count: Annotated[
        bool, typer.Option("--count", help="Only count the decorations; write nothing.")
    ] = False,
    sample: Annotated[
        int | None, typer.Option(help="Keep this many, drawn at random.")
    ] = None,
    max_structures: Annotated[
        int, typer.Option(help="Refuse requests whose estimated count exceeds this.")
    ] = 100_000,
    seed: Seed = None,
    append: Append = False,
):
    """Symmetry-distinct decorations of a parent lattice (icet), with optional
    interstitial sites holding a species or a vacancy."""
    hosts = [s.strip() for s in host.split(",") if s.strip()]
    check_positive(a, "--a")
    _check_output(output)
    try:
        if interstitial:
            parent = interstitial_parent(lattice, a, sites=sites)
            species = [hosts] + [[interstitial, "X"]] * (len(parent) - 1)
        else:
            parent = bulk("Cu", lattice, a=a)
            species = [hosts]
        estimate = estimate_count(parent, species, sizes)
        if count:
            exact = count_decorations(
                parent, species, sizes, max_structures=max_structures
            )
            console.print(f"{exact} decorations (estimate {estimate:.3g})")
            return
        if output is None:
            fail("--output is required unless --count is given")
        structures = enumerate_decorations(
            parent,
            species,
            sizes,
            sample=sample,
            max_structures=max_structures,
            rng=seed,
        )
    except ValueError as exc:
        fail(str(exc))
    write_output(structures, output, append)


@app.command()
def derive(
    inputs: Annotated[
        list[Path], typer.Argument(help="Parent structures (extxyz, ase.db, ...).")
    ],
    output: Output,
    n: Annotated[int, typer.Option(help="Derived structures to make.")] = 10,
    kind: Annotated[
        str,
        typer.Option(help="Reference defaults: metal or oxide (docs/method.md §1.3)."),
    ] = "metal",
    species: Annotated[
        list[str],
        typer.Option(
            help="Substitution pool per kind, repeatable: metal=Nb,Ti,Zr, anion=O; "
            "default: the species present in the parents."
        ),
    ] = [],  # noqa: B006
    displacement_std: Annotated[
        float | None,
        typer.Option(
            help="Gaussian displacement std per component (Å); metal 0.4, oxide 0.3."
        ),
    ] = None,
    volumetric_strain: Annotated[
        str | None,
        typer.Option(help="Range low,high of V'/V − 1; default -0.025,0.075."),
    ] = None,
    von_mises_strain: Annotated[
        str | None,
        typer.Option(help="Range low,high of the von Mises strain; default 0,0.2."),
    ] = None,
    deletion_probability: Annotated[
        float | None, typer.Option(help="Per-atom deletion probability; default 0.05.")
    ] = None,
    substitution_probability: Annotated[
        float | None,
        typer.Option(help="Per-atom substitution probability; metal 0.5, oxide 0.1."),
    ] = None,
    figure: Annotated[
        Path | None, typer.Option(help="Also save the strain/displacement figure here.")
    ] = None,
    seed: Seed = None,
    append: Append = False,
):
    """Perturbed copies of parent structures: substitution, deletion, volumetric
    and von Mises strain, Gaussian displacements (every draw in info)."""
    overrides = {}
    if displacement_std is not None:
        overrides["displacement_std_A"] = displacement_std
    if volumetric_strain is not None:
        overrides["volumetric_strain"] = tuple(
            parse_floats(volumetric_strain, "--volumetric-strain", 2)
        )
    if von_mises_strain is not None:
        overrides["von_mises_strain"] = tuple(
            parse_floats(von_mises_strain, "--von-mises-strain", 2)
        )
    if deletion_probability is not None:
        overrides["deletion_probability"] = deletion_probability
    if substitution_probability is not None:
        overrides["substitution_probability"] = substitution_probability
    pools = {k: parse_species(v) for k, v in parse_pairs(species, "--species").items()}
    if kind not in DEFAULTS:
        fail(f"--kind must be one of {', '.join(DEFAULTS)}, got {kind!r}")
    check_inputs(inputs)
    _check_output(output)
    parents = read_all(inputs)
    try:
        structures = derive_structures(
            parents, n, kind=kind, species=pools or None, rng=seed, **overrides
        )
    except ValueError as exc:
        fail(str(exc))
    write_output(structures, output, append)
    if figure is not None:
        plot_derived(structures, figure)
        console.print(f"figure: {figure}")


#: random_structures' keywords as `hyperal structures random` names them
RANDOM_OPTIONS = {
    "cutoff_A": "--cutoff",
    "criterion": "--criterion",
    "density_g_cm3": "--density",
    "n_atoms": "--n-atoms",
    "min_distance_factor": "--min-distance-factor",
}


@app.command()
def random(
    output: Output,
    cutoff: Annotated[
        float, typer.Option(help="Interaction range r_cut of the model (Å).")
    ],
    n: Annotated[int, typer.Option(help="Structures to make.")] = 10,
    composition: Annotated[
        str | None,
        typer.Option(help="Fixed atomic fractions, e.g. Nb=1,Ti=1,Zr=1,O=0.3."),
    ] = None,
    elements: Annotated[
        str | None,
        typer.Option(
            help="Instead of --composition: host elements (Nb,Ti,Zr) whose "
            "fractions are drawn per structure, biased toward equimolar."
        ),
    ] = None,
    interstitial: Annotated[
        list[str],
        typer.Option(help="With --elements: interstitial content range, O=0,0.3."),
    ] = [],  # noqa: B006
    criterion: Annotated[
        str,
        typer.Option(
            help=f"Cell size: an SOI operating point ({', '.join(OPERATING_POINTS)}) "
            "or a number x = 2·cutoff/L."
        ),
    ] = "inner_half_unique",
    density: Annotated[
        str | None, typer.Option(help="Mass density range low,high (g/cm³).")
    ] = None,
    n_atoms: Annotated[
        str | None, typer.Option(help="Instead of --density: atoms, N or low,high.")
    ] = None,
    min_distance_factor: Annotated[
        float,
        typer.Option(help="Minimum distance = factor × sum of covalent radii."),
    ] = 0.7,
    seed: Seed = None,
    append: Append = False,
):
    """Atoms inserted at random into a cubic cell sized from the cutoff, at a
    density in a range, honouring per-pair minimum distances."""
    try:
        x = float(criterion)
    except ValueError:
        x = criterion
    if (composition is None) == (elements is None):
        fail("give exactly one of --composition and --elements")
    if n < 1:
        fail(f"--n: expected a whole number >= 1, got {n}")
    try:
        check_structures(n, "--n")
    except ValueError as exc:
        fail(str(exc))
    check_positive(cutoff, "--cutoff")
    check_positive(min_distance_factor, "--min-distance-factor", zero=True)
    _check_output(output)
    if composition is not None:
        fractions = {
            k: float(v)
            for k, v in parse_pairs(composition.split(","), "--composition").items()
        }
        compositions = [fractions] * n
    else:
        ranges = {
            k: tuple(parse_floats(v, "--interstitial", 2))
            for k, v in parse_pairs(interstitial, "--interstitial").items()
        }
        compositions = sample_compositions(
            [e.strip() for e in elements.split(",") if e.strip()],
            n,
            interstitials=ranges,
            rng=seed,
        )
    kwargs = {}
    if density is not None:
        kwargs["density_g_cm3"] = tuple(parse_floats(density, "--density", 2))
    if n_atoms is not None:
        values = parse_ints(n_atoms, "--n-atoms")
        kwargs["n_atoms"] = values[0] if len(values) == 1 else tuple(values)

    rng = np.random.default_rng(seed)
    structures = []
    try:
        for fractions in _unique_runs(compositions):
            structures += random_structures(
                fractions[1],
                fractions[0],
                cutoff_A=cutoff,
                criterion=x,
                min_distance_factor=min_distance_factor,
                rng=rng,
                **kwargs,
            )
    except ParameterError as exc:  # named as this command's option
        fail(f"{RANDOM_OPTIONS.get(exc.key, exc.key)}: {exc.detail}")
    except (ValueError, PlacementError) as exc:
        fail(str(exc))
    write_output(structures, output, append)


def _unique_runs(compositions):
    """(composition, count) for consecutive equal compositions."""
    runs = []
    for c in compositions:
        if runs and runs[-1][0] == c:
            runs[-1][1] += 1
        else:
            runs.append([c, 1])
    return runs


@app.command()
def soi(
    cutoff: Annotated[
        float | None, typer.Option(help="Cutoff r_cut (Å): also print the cell edge L.")
    ] = None,
    x: Annotated[
        float | None, typer.Option(help="Also evaluate this x = D/L = 2·r_cut/L.")
    ] = None,
):
    """Sphere-of-influence ratios of a cubic cell at the named operating points."""
    points = dict(OPERATING_POINTS)
    check_positive(cutoff, "--cutoff")
    if x is not None:
        if not (math.isfinite(x) and x > 0):
            fail(f"--x must be > 0, got {x}")
        points["given"] = x
    header = [
        "operating point",
        "x",
        "SOI/cell",
        "r_u/r_cut",
        "V_u/V_SOI",
        "rel. cell volume",
    ] + (["L (Å)"] if cutoff else [])
    rows = []
    for name, value in points.items():
        m = soi_metrics(value)
        row = [
            name,
            f"{value:.4f}",
            f"{m['soi_over_cell']:.4f}",
            f"{m['unique_radius_over_cutoff']:.4f}",
            f"{m['unique_volume_over_soi']:.4f}",
            f"{m['relative_cell_volume']:.4f}",
        ]
        if cutoff:
            row.append(f"{2 * cutoff / value:.3f}")
        rows.append(row)
    title = "Sphere of influence, cubic cell (x = D/L = 2·r_cut/L)"
    print_table(table_console(), title, header, rows, left=1)


@app.command()
def plot(
    inputs: Annotated[list[Path], typer.Argument(help="Derived structures.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Figure file (.png, .pdf, .svg).")
    ],
):
    """Plot the volumetric / von Mises strain and displacement distributions of a
    derived set."""

    check_inputs(inputs)
    _check_output(output)
    structures = read_all(inputs)
    try:
        plot_derived(structures, output)
    except ValueError as exc:
        fail(str(exc))
    console.print(f"figure: {output}")
