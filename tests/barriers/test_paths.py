"""Hop-path environments: neighbourhoods, path symmetry, Burnside counts
against a brute-force orbit walk, representatives, uniform sampling."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from hyperal.barriers import (
    burnside,
    canonical,
    decorated_cell,
    load_case,
    named_cases,
    path_environment,
    representatives,
    sample,
)
from hyperal.barriers.counting import orbit_count_brute_force
from hyperal.cli.main import app

SC_VACANCY = """
name: sc-vacancy
lattice: {prototype: sc, a: 2.5}
start: [0, 0, 0]
end: [1, 0, 0]
kind: vacancy
start_shells: [1]
end_shells: [1]
"""


@pytest.fixture(scope="module")
def cases():
    return {name: path_environment(case) for name, case in named_cases().items()}


def test_neighbourhoods_and_path_groups(cases):
    vacancy, octahedral = cases["bcc-vacancy"], cases["bcc-octahedral"]
    assert vacancy.n_sites == 14 and octahedral.n_sites == 8
    # a <111> hop of bcc: C3v keeps the ends, D3d may swap them
    assert vacancy.group_order("directed") == 6
    assert vacancy.group_order("undirected") == 12
    # an octahedral-octahedral hop: C2v, D2h
    assert octahedral.group_order("directed") == 4
    assert octahedral.group_order("undirected") == 8
    # the octahedra: 2 near (a/2) and 4 far (a/√2) metal atoms each, 4 shared
    a = 3.3
    for site in (octahedral.start, octahedral.end):
        d = np.sort(np.linalg.norm(octahedral.positions - site, axis=1))
        assert np.allclose(d[:2], a / 2) and np.allclose(d[2:6], a / np.sqrt(2))
    # the path sites are not in the neighbourhood; every site is a lattice site
    for env in (vacancy, octahedral):
        for site in (env.start, env.end):
            assert np.min(np.linalg.norm(env.positions - site, axis=1)) > 1.0


@pytest.mark.parametrize("name", ["bcc-vacancy", "bcc-octahedral"])
@pytest.mark.parametrize("convention", ["directed", "undirected"])
def test_burnside_equals_a_brute_force_orbit_walk(cases, name, convention):
    env = cases[name]
    group = env.groups[convention]
    species = (2, 3) if env.n_sites <= 8 else (2,)
    for k in species:
        assert burnside(group, k) == orbit_count_brute_force(group, env.n_sites, k)


def test_a_smaller_lattice_from_yaml(tmp_path):
    path = tmp_path / "sc.yaml"
    path.write_text(SC_VACANCY)
    env = path_environment(load_case(str(path)))
    assert env.n_sites == 10  # 6 + 6 neighbours less the two path sites
    assert env.group_order("directed") == 8  # C4v about the hop axis
    assert env.group_order("undirected") == 16  # D4h
    for convention in ("directed", "undirected"):
        group = env.groups[convention]
        for k in (2, 3):
            assert burnside(group, k) == orbit_count_brute_force(group, 10, k)
    assert env.total(3) == 3 * env.count(3)  # the hopping atom's species


def test_counts_by_hand():
    # the identity alone: every decoration distinct; a swap of two sites
    identity = np.array([[0, 1, 2]])
    assert burnside(identity, 3) == 27
    swap = np.array([[0, 1, 2], [1, 0, 2]])
    assert burnside(swap, 2) == (8 + 4) // 2
    with pytest.raises(ValueError, match="integer >= 1"):
        burnside(swap, 0)


def test_representatives_are_the_canonical_orbits(cases):
    env = cases["bcc-vacancy"]
    rows = representatives(env, 2, "undirected")
    assert len(rows) == env.count(2, "undirected") == 1676
    assert np.array_equal(canonical(env, rows, 2, "undirected"), rows)
    assert len({tuple(r) for r in rows}) == len(rows)
    with pytest.raises(ValueError, match="too many to walk"):
        representatives(env, 4)  # 4^14 > 10^7


def test_sample_draws_distinct_canonical_environments(cases):
    env = cases["bcc-vacancy"]
    drawn = sample(env, 3, 200, rng=7)
    assert drawn.shape == (200, 14)
    assert len({tuple(r) for r in drawn}) == 200
    assert np.array_equal(canonical(env, drawn, 3), drawn)
    assert np.array_equal(sample(env, 3, 200, rng=7), drawn)  # seeded
    # asking for every environment returns exactly the representatives
    octahedral = cases["bcc-octahedral"]
    every = sample(octahedral, 2, 100, rng=0)
    assert {tuple(r) for r in every} == {
        tuple(r) for r in representatives(octahedral, 2)
    }
    with pytest.raises(ValueError, match="exceeds the 100 distinct"):
        sample(octahedral, 2, 101)


def test_sampling_is_uniform_over_orbits(cases):
    """Orbits of different sizes are drawn equally often: over many single
    draws of the octahedral hop with 2 species (100 orbits of sizes 1, 2,
    4), the mean draw count of the small orbits equals that of the large."""
    env = cases["bcc-octahedral"]
    rows = representatives(env, 2)
    group = env.groups["directed"]
    from hyperal.barriers.counting import decoration_codes, image_codes

    sizes = {
        int(decoration_codes(r[None], 2)[0]): len(
            set(image_codes(r[None], group, 2)[0])
        )
        for r in rows
    }
    rng = np.random.default_rng(3)
    hits = dict.fromkeys(sizes, 0)
    for _ in range(3000):
        (row,) = sample(env, 2, 1, rng=rng)
        hits[int(decoration_codes(row[None], 2)[0])] += 1
    by_size = {
        s: np.mean([hits[c] for c, size in sizes.items() if size == s])
        for s in set(sizes.values())
    }
    expected = 3000 / len(rows)
    for mean in by_size.values():  # a uniform draw over decorations gives 4:1
        assert abs(mean - expected) < 0.35 * expected, by_size


def test_decorated_cell_holds_the_environment(cases):
    env = cases["bcc-vacancy"]
    (row,) = sample(env, 3, 1, rng=1)
    species = ["Nb", "Ti", "Zr"]
    atoms = decorated_cell(env, row, species, hopping="Ti", rng=0)
    assert len(atoms) == 54 - 1  # 3×3×3 conventional cells, the vacancy
    shift = atoms.cell.sum(axis=0) / 3
    for site, kind in zip(env.positions + shift, row, strict=True):
        index = int(np.argmin(np.linalg.norm(atoms.positions - site, axis=1)))
        assert np.linalg.norm(atoms.positions[index] - site) < 1e-6
        assert atoms[index].symbol == species[kind]
    end = int(np.argmin(np.linalg.norm(atoms.positions - (env.end + shift), axis=1)))
    assert atoms[end].symbol == "Ti"
    assert np.min(np.linalg.norm(atoms.positions - (env.start + shift), axis=1)) > 2
    with pytest.raises(ValueError, match="hopping: give the species"):
        decorated_cell(env, row, species)


def test_cli_count_list_sample(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["hops", "count", "bcc-vacancy", "--species", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == [
        "directed sites=14 group_order=6 count=2480787",
        "undirected sites=14 group_order=12 count=1242594",
    ]
    assert "factor 3" in lines[2]
    out = tmp_path / "l.extxyz"
    result = runner.invoke(
        app, ["hops", "list", "bcc-octahedral", "--species", "Nb,Ti", "-o", str(out)]
    )
    assert result.exit_code == 0 and "wrote 100 hop structures" in result.output
    from ase.io import read

    images = read(out, ":")
    assert len(images) == 100 and all(a.info["hop"] == "bcc-octahedral" for a in images)
    assert all(a.get_chemical_symbols().count("O") == 1 for a in images)
    result = runner.invoke(
        app,
        [
            "hops",
            "sample",
            "bcc-vacancy",
            "--species",
            "Nb,Ti,Zr",
            "--n",
            "4",
            "--seed",
            "2",
            "-o",
            str(tmp_path / "s.extxyz"),
        ],
    )
    assert result.exit_code == 0 and "wrote 12 hop structures" in result.output
    for args, error in (
        (["count", "hcp-vacancy", "--species", "2"], "unknown hop 'hcp-vacancy'"),
        (["count", "bcc-vacancy", "--species", "Nb,Xx"], "--species: expected"),
        (["list", "bcc-vacancy", "--species", "2", "-o", str(out)], "--species:"),
        (["count", "bcc-vacancy", "--species", "2", "--convention", "x"], "--conv"),
        (
            ["list", "bcc-vacancy", "--species", "Nb,Ti,Zr", "-o", str(out)],
            "list (directed): 2,480,787 structures exceeds the limit of 100,000",
        ),
    ):
        result = runner.invoke(app, ["hops", *args])
        assert result.exit_code == 2 and error in result.output, result.output
