"""`hyperal testset`: strata counts, labels, seeds, resume, failures, limits,
independence from the campaign's starts, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from ase.calculators.emt import EMT
from ase.io import read
from typer.testing import CliRunner

from hyperal.cli.main import app
from hyperal.runs.settings import ConfigError
from hyperal.runs.store import structure_key
from hyperal.testsets import build_test_set, parse_recipe

RECIPE = {
    "system": {
        "elements": ["Cu", "Ni", "Pd"],
        "metal_phases": [
            {"prototype": "fcc", "species": ["Cu", "Ni", "Pd"], "repeat": [2, 2, 2]}
        ],
        "random": {"cutoff_A": 4.0, "density_g_cm3": [8.0, 10.0]},
    },
    "oracle": {"name": "emt"},
    "seed": 5,
    "strata": [
        {
            "kind": "md",
            "count": 3,
            "temperatures_K": [300, 1200],
            "equilibrate": 4,
            "interval": 3,
        },
        {"kind": "vacancy", "count": 2},
        {"name": "divacancy", "kind": "vacancy", "count": 2, "vacancies": 2},
        {"kind": "surface", "count": 2},
        {
            "name": "hydro",
            "kind": "strain",
            "mode": "hydrostatic",
            "count": 2,
            "strain": [-0.04, 0.06],
        },
        {
            "name": "shear",
            "kind": "strain",
            "mode": "shear",
            "count": 2,
            "strain": [0.02, 0.1],
        },
        {"kind": "random", "count": 2},
        {"kind": "rattle", "count": 2},
    ],
}
COUNTS = {
    "md": 3,
    "vacancy": 2,
    "divacancy": 2,
    "surface": 2,
    "hydro": 2,
    "shear": 2,
    "random": 2,
    "rattle": 2,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("testset") / "set.extxyz"
    reports = build_test_set(parse_recipe(RECIPE), path)
    return path, reports, read(path, index=":")


def test_every_stratum_has_its_count_tagged_and_labelled(built):
    path, reports, images = built
    assert {r.name: r.requested for r in reports} == COUNTS
    for r in reports:  # no EMT failure; without limits nothing is left out
        assert r.written == r.requested and r.failed == r.beyond_limits == 0
    strata = [a.info["source"] for a in images]
    assert {s: strata.count(s) for s in COUNTS} == COUNTS
    for atoms in images:  # the stored labels are EMT's (extxyz keeps 8 decimals)
        atoms.calc = EMT()
        assert atoms.info["REF_energy"] == pytest.approx(atoms.get_potential_energy())
        np.testing.assert_allclose(
            atoms.arrays["REF_forces"], atoms.get_forces(), atol=1e-6
        )
        assert atoms.info["stratum"] == atoms.info["source"]
    by = {}
    for atoms in images:
        by.setdefault(atoms.info["stratum"], []).append(atoms)
    assert {len(a) for a in by["vacancy"]} == {31}
    assert {len(a) for a in by["divacancy"]} == {30}
    assert all(list(a.pbc) == [True, True, False] for a in by["surface"])
    assert all(-0.04 <= a.info["strain"] <= 0.06 for a in by["hydro"])
    assert sorted(a.info["temperature_K"] for a in by["md"]) == [300, 300, 1200]


def test_divacancies_are_nearest_neighbours():
    from ase.build import bulk

    from hyperal.recipe import VacancyStratum
    from hyperal.strata import _vacancies, stratum_rng

    crystal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    stratum = VacancyStratum(kind="vacancy", count=1, vacancies=2)
    out = _vacancies(crystal.copy(), stratum, stratum_rng(0, "x"))
    # the two empty sites: lattice sites with no atom left on them
    d = np.linalg.norm(
        crystal.positions[:, None, :] - out.positions[None, :, :], axis=2
    ).min(axis=1)
    empty = crystal.positions[d > 0.1]
    assert len(empty) == 2
    # nearest-neighbour distance of fcc: a/√2, under the minimum image
    from ase.geometry import find_mic

    _, length = find_mic(empty[0] - empty[1], crystal.cell, pbc=True)
    assert length == pytest.approx(3.6 / np.sqrt(2))


def test_strata_of_one_kind_draw_their_own_structures():
    """Two strata of the same kind and settings, named apart, draw other
    structures: each stratum's stream is keyed by its name, not its kind."""
    from hyperal.strata import candidates

    for kind in ("rattle", "random", "vacancy"):
        strata = [{"name": f"{kind}_{k}", "kind": kind, "count": 2} for k in "ab"]
        recipe = parse_recipe({**RECIPE, "strata": strata})
        first, second = (
            {structure_key(a) for a in candidates(recipe, s)} for s in recipe.strata
        )
        assert len(first) == 2 and not first & second, kind


def test_the_same_recipe_gives_the_same_set_and_strata_are_independent(built, tmp_path):
    path, _, images = built
    again = tmp_path / "again.extxyz"
    build_test_set(parse_recipe(RECIPE), again)
    second = read(again, index=":")
    assert [structure_key(a) for a in second] == [structure_key(a) for a in images]
    # another seed: other structures
    other = tmp_path / "other.extxyz"
    build_test_set(
        parse_recipe({**RECIPE, "seed": 6, "strata": RECIPE["strata"][1:2]}), other
    )
    keys = {structure_key(a) for a in images}
    assert not keys & {structure_key(a) for a in read(other, index=":")}
    # a stratum left out changes no other stratum's structures
    fewer = tmp_path / "fewer.extxyz"
    build_test_set(parse_recipe({**RECIPE, "strata": RECIPE["strata"][1:3]}), fewer)
    assert {structure_key(a) for a in read(fewer, index=":")} <= keys


def test_a_killed_build_resumes_without_paying_twice(built, tmp_path, monkeypatch):
    from hyperal import oracle as oracle_module

    path, _, images = built
    partial = tmp_path / "partial.extxyz"
    lines = path.read_text().splitlines(keepends=True)
    # the first 5 structures survive the kill
    kept, k, n = [], 0, 0
    while n < 5:
        count = int(lines[k])
        kept += lines[k : k + count + 2]
        k += count + 2
        n += 1
    partial.write_text("".join(kept))
    calls = []
    real = oracle_module.Oracle.label
    monkeypatch.setattr(
        oracle_module.Oracle, "label", lambda self, a: calls.append(1) or real(self, a)
    )
    build_test_set(parse_recipe(RECIPE), partial)
    assert len(calls) == len(images) - 5
    assert [structure_key(a) for a in read(partial, index=":")] == [
        structure_key(a) for a in images
    ]
    # another recipe may not append to this file
    with pytest.raises(ValueError, match="written by another recipe"):
        build_test_set(parse_recipe({**RECIPE, "seed": 9}), partial)


def test_failures_are_recorded_and_not_paid_again(tmp_path, monkeypatch):
    from hyperal import oracle as oracle_module

    recipe = parse_recipe({**RECIPE, "strata": RECIPE["strata"][1:3]})
    real = oracle_module.Oracle.label
    calls = []

    def failing_for_divacancies(self, atoms):
        calls.append(len(atoms))
        if len(atoms) == 30:
            return oracle_module.Label("failed", reason="SCF not converged")
        return real(self, atoms)

    monkeypatch.setattr(oracle_module.Oracle, "label", failing_for_divacancies)
    path = tmp_path / "set.extxyz"
    reports = {r.name: r for r in build_test_set(recipe, path)}
    assert reports["divacancy"].failed == 2 and reports["divacancy"].written == 0
    assert reports["divacancy"].reasons == ["SCF not converged"] * 2
    sidecar = [
        json.loads(x)
        for x in (tmp_path / "set.extxyz.left_out.jsonl").read_text().splitlines()
    ]
    assert [(e["stratum"], e["index"]) for e in sidecar] == [
        ("divacancy", 0),
        ("divacancy", 1),
    ]
    calls.clear()
    again = {r.name: r for r in build_test_set(recipe, path)}
    assert calls == [] and again["divacancy"].failed == 2


def test_structures_beyond_the_physical_limits_are_counted_and_left_out(
    tmp_path, monkeypatch
):
    from hyperal import oracle as oracle_module

    recipe = parse_recipe(
        {
            **RECIPE,
            "strata": [{"kind": "random", "count": 8}],
            "limits": {"max_force_eV_A": 12.0, "min_distance_A": 1.5},
        }
    )
    path = tmp_path / "set.extxyz"
    (report,) = build_test_set(recipe, path)
    assert report.beyond_limits > 0
    assert report.written > 0 and report.written + report.beyond_limits == 8
    # a rerun pays for none of them again
    calls = []
    real = oracle_module.Oracle.label
    monkeypatch.setattr(
        oracle_module.Oracle, "label", lambda self, a: calls.append(1) or real(self, a)
    )
    (again,) = build_test_set(recipe, path)
    assert calls == [] and again.beyond_limits == report.beyond_limits
    for atoms in read(path, index=":"):
        assert np.linalg.norm(atoms.arrays["REF_forces"], axis=1).max() < 12.0


def _rounded_key(atoms) -> tuple:
    """Numbers, cell and positions to 1e-4 Å: a structure's identity that
    survives extxyz's 8 written decimals."""
    return (
        tuple(atoms.numbers),
        tuple(np.round(atoms.cell.array, 4).ravel()),
        tuple(np.round(atoms.positions, 4).ravel()),
    )


@pytest.mark.parametrize(
    "shipped_file, count",
    [
        ("emt-robust.extxyz", 105),
        ("emt-robust-confirm.extxyz", 92),
        ("emt-robust-screen.extxyz", 91),
    ],
)
def test_the_shipped_robustness_sets_share_no_structure_with_the_benchmark_starts(
    tmp_path, shipped_file, count
):
    """The shipped robustness sets against every start (initial and loops
    1-5, all 8 replicate seeds) of examples/benchmark-emt-large.yaml."""
    from pathlib import Path

    from ase.io import write

    from hyperal.benchmark import load_benchmark
    from hyperal.campaign.starts import initial_starts, loop_starts

    examples = Path(__file__).parents[1] / "examples"
    bench, base = load_benchmark(examples / "benchmark-emt-large.yaml")
    shipped = read(examples / "data" / shipped_file, ":")
    keys = {_rounded_key(a) for a in shipped}
    assert len(keys) == len(shipped) == count
    starts = []
    for replicate in range(bench.replicates):
        cfg = base.model_copy(update={"seed": base.seed + replicate})
        starts += [s.atoms for s in initial_starts(cfg)]
        for loop in range(1, base.loops + 1):
            starts += [s.atoms for s in loop_starts(cfg, loop)]
    assert len(starts) == bench.replicates * (8 + 5 * 30)
    assert not keys & {_rounded_key(a) for a in starts}
    # the comparison can fail: a start written and read back is recognised
    write(tmp_path / "start.extxyz", starts[17])
    assert _rounded_key(read(tmp_path / "start.extxyz")) == _rounded_key(starts[17])


def test_the_confirmatory_recipe_shares_no_generator_with_the_campaign():
    """examples/testset-emt-confirm.yaml against the campaign and schemes of
    examples/benchmark-emt-large.yaml: no stratum from a generator of the
    campaign's starts, no MD with a scheme's dynamics, a seed of its own."""
    from pathlib import Path

    import yaml

    from hyperal.benchmark import load_benchmark

    examples = Path(__file__).parents[1] / "examples"
    recipe = parse_recipe(
        yaml.safe_load((examples / "testset-emt-confirm.yaml").read_text())
    )
    bench, base = load_benchmark(examples / "benchmark-emt-large.yaml")
    kinds = {s.kind for s in recipe.strata}
    # the campaign's random starts come from `random`, its derived starts are
    # rattled and sheared crystals (derive_metal)
    assert base.counts.random > 0 and "random" not in kinds
    assert base.system.derive_metal["displacement_std_A"] > 0
    assert base.system.derive_metal["von_mises_strain"][1] > 0
    assert not kinds & {"rattle", "oxide"}
    assert not any(s.kind == "strain" and s.mode == "shear" for s in recipe.strata)
    # no MD stratum samples as the schemes do (Langevin at their timestep,
    # at their temperature)
    md = bench.scheme_params["md"]
    for s in recipe.strata:
        if s.kind == "md":
            assert s.dynamics != "langevin"
            assert s.timestep_fs != md["timestep_fs"]
            assert md["temperature_K"] not in s.temperatures_K
    # a seed no example campaign, benchmark or other recipe uses
    seeds = set()
    for path in examples.glob("*.yaml"):
        if path.name == "testset-emt-confirm.yaml":
            continue
        data = yaml.safe_load(path.read_text()) or {}
        for section in (data, data.get("campaign") or {}):
            if isinstance(section, dict) and "seed" in section:
                seeds.add(section["seed"])
    assert recipe.seed not in seeds
    assert not {recipe.seed + k for k in range(-8, 9)} & {
        base.seed + r for r in range(bench.replicates)
    }


def test_md_strata_take_other_ensembles_and_volumes(tmp_path):
    from ase.calculators.emt import EMT

    from hyperal.strata import candidates

    recipe = parse_recipe(
        {
            **RECIPE,
            "strata": [
                {"name": name, "kind": "md", "count": 2, "temperatures_K": [900],
                 "equilibrate": 3, "interval": 2, "timestep_fs": 1.0,
                 "dynamics": name, "volume_strain": strain}
                for name, strain in (("bussi", -0.03), ("nve", 0.04), ("langevin", 0))
            ] + [{"kind": "adatom", "count": 2, "adatoms": 2}],
        }
    )  # fmt: skip
    parent = recipe.system.metal_phases[0].build(np.random.default_rng(0))[0]
    volume = parent.get_volume()
    runs = {s.label: candidates(recipe, s, driver=EMT) for s in recipe.strata}
    assert runs["bussi"][0].get_volume() == pytest.approx(volume * 0.97**3)
    assert runs["nve"][0].get_volume() == pytest.approx(volume * 1.04**3)
    assert runs["langevin"][0].get_volume() == pytest.approx(volume)
    for name in ("bussi", "nve", "langevin"):
        assert [a.info["md_step"] for a in runs[name]] == [3, 5]
    # each ensemble moves the atoms its own way from the same kind of start
    assert not np.allclose(runs["bussi"][1].positions, runs["nve"][1].positions)
    # adatoms: two atoms above the slab's top layer, of the slab's elements
    for slab in runs["adatom"]:
        z = slab.positions[:, 2]
        assert np.all(z[-2:] > z[:-2].max() + 1.6)  # 2 Å, then rattled 0.05
        assert set(slab.get_chemical_symbols()[-2:]) <= set(
            slab.get_chemical_symbols()[:-2]
        )
        assert slab.info["adatoms"] == 2


def test_recipe_mistakes_are_one_line_each_before_any_label(tmp_path):
    bad = {
        **RECIPE,
        "sed": 1,
        "strata": [
            {"kind": "warp", "count": 1},
            {"kind": "md", "count": 1, "temperatures_K": [300], "tmep": 3},
            {"kind": "vacancy", "count": 0},
        ],
    }
    with pytest.raises(ConfigError) as info:
        parse_recipe(bad)
    lines = str(info.value).splitlines()
    assert sorted(lines) == [
        "sed: unknown key; allowed: limits, oracle, seed, strata, system",
        "strata[0].kind: unknown kind 'warp'; allowed: 'md', 'vacancy', 'surface', "
        "'adatom', 'strain', 'random', 'oxide', 'rattle'",
        "strata[1].tmep: unknown key; allowed: count, dynamics, equilibrate, "
        "friction, interval, kind, name, phases, rattle_A, taut_fs, "
        "temperatures_K, timestep_fs, volume_strain",
        "strata[2].count: Input should be greater than or equal to 1",
    ]
    with pytest.raises(ConfigError, match=r"strata\[0\] \(oxide\): kind oxide needs"):
        parse_recipe({**RECIPE, "strata": [{"kind": "oxide", "count": 1}]})
    with pytest.raises(ConfigError, match="stratum name rattle used twice"):
        parse_recipe({**RECIPE, "strata": [{"kind": "rattle", "count": 1}] * 2})
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = CliRunner().invoke(
        app, ["testset", str(path), "-o", str(tmp_path / "x.extxyz")]
    )
    assert result.exit_code == 2 and result.output.startswith("error:")
    assert not (tmp_path / "x.extxyz").exists()
    path.write_text(yaml.safe_dump(RECIPE))
    result = CliRunner().invoke(
        app, ["testset", str(path), "-o", str(tmp_path / "x.db")]
    )
    assert result.exit_code == 2 and "give an .extxyz" in result.output


def test_the_command_writes_the_set_and_its_table(tmp_path):
    recipe = {**RECIPE, "strata": RECIPE["strata"][1:2]}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "set.extxyz"
    result = CliRunner().invoke(app, ["testset", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 labelled structures" in result.output and "vacancy" in result.output
    assert len(read(out, ":")) == 2


def test_the_plan_counts_the_calls_a_test_set_pays(tmp_path):
    """`hyperal plan` of a recipe against the oracle calls of building it:
    the MD driver's calls (a counting EMT, which caches like every ASE
    calculator) and one label per candidate."""
    from hyperal.strata import testset_plan

    driven = []

    class Counting(EMT):
        def calculate(self, *args, **kwargs):
            driven.append(1)
            super().calculate(*args, **kwargs)

    recipe = parse_recipe(RECIPE)
    plan = testset_plan(recipe)
    build_test_set(recipe, tmp_path / "set.extxyz", driver=Counting)
    md = [s for s in plan.stages if s.what.startswith("md: MD")]
    assert len(driven) == md[0].total_calls == (1 + 4 + 3) + (1 + 4)
    labels = [s for s in plan.stages if s not in md]
    assert all(s.exact for s in labels)
    written = read(tmp_path / "set.extxyz", ":")
    assert sum(s.total_calls for s in labels) == sum(COUNTS.values())
    assert len(written) <= sum(COUNTS.values())


@pytest.mark.parametrize("keep", ["failed", "all"])
def test_an_md_stratum_runs_its_dynamics_in_call_folders(tmp_path, monkeypatch, keep):
    """A file-based oracle driving an MD stratum writes into a folder of its
    own under the oracle's workdir — not the current directory — kept or
    removed like a label's folder."""
    monkeypatch.chdir(tmp_path)
    calls = tmp_path / "calls"
    md = {"kind": "md", "count": 2, "temperatures_K": [300], "equilibrate": 2}
    recipe = parse_recipe(
        {
            **RECIPE,
            "oracle": {
                "name": "hyperal.testing:FileEMT",
                "workdir": str(calls),
                "keep_workdirs": keep,
            },
            "strata": [md],
        }
    )
    build_test_set(recipe, tmp_path / "set.extxyz")
    assert not (tmp_path / "output.txt").exists()  # nothing in the cwd
    driven = sorted(calls.glob("*-md-md-*"))
    if keep == "all":
        (folder,) = driven  # one MD run, in its own folder, kept
        assert (folder / "output.txt").exists()
    else:
        assert driven == []  # a good run's folder is removed
    assert len(read(tmp_path / "set.extxyz", ":")) == 2
