"""Every mistake a campaign file shows is reported before any oracle call, all
together, one line each naming the key."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from hyperal.campaign.validate import load_config, parse_config
from hyperal.cli.main import app
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus
from hyperal.runs.settings import ConfigError
from tests.campaign.conftest import tiny


def test_semantic_mistakes_are_named_together(tmp_path):
    data = tiny(tmp_path)
    data["system"]["elements"] = ["Cu", "Ni", "Pdd"]
    data["system"]["metal_phases"].append({"prototype": "bcc", "species": ["Fe", "Cu"]})
    data["system"]["random"]["interstitials"] = {"O": [0.0, 0.2]}
    data["scheme"]["params"] = {"temperatur_K": 300}
    data["oracle"] = {"name": "emt", "kwargs": {"asap_cutof": True}}
    data["store"] = str(tmp_path / "missing" / "campaign.db")
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    lines = str(error.value).splitlines()
    assert lines == [
        # the typed scheme refuses its unknown key with the schema ...
        "scheme.params.temperatur_K: unknown key; allowed: blowup_distance_A, "
        "blowup_force_eV_A, ensemble, friction_per_fs, initial_temperature_K, "
        "keep_momenta, max_sigma_eV_atom, record_every, temperature_K, timestep_fs",
        # ... and the sections that validate still hear their problems
        "system.elements[2]: 'Pdd' is not an element",
        "system.metal_phases[0].species: Pd not in system.elements (Cu, Ni, Pdd)",
        "system.metal_phases[1].species: Fe not in system.elements (Cu, Ni, Pdd)",
        "system.random.interstitials: O not in system.elements",
        "oracle.kwargs: unknown parameter(s) asap_cutof of emt; allowed: asap_cutoff",
        f"store: folder {tmp_path / 'missing'} does not exist",
    ]


def test_an_oracle_that_cannot_be_built_is_refused(tmp_path):
    data = tiny(tmp_path, oracle={"name": "my_dft_code.calculators.Dft"})
    with pytest.raises(ConfigError, match="oracle.name: cannot import"):
        parse_config(data)
    # an import path's in-memory calculator: its **kwargs would swallow a typo
    data = tiny(
        tmp_path,
        oracle={"name": "hyperal.testing:FlakyEMT", "kwargs": {"evry": 2}},
    )
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value) == (
        "oracle.kwargs: unknown parameter(s) evry of hyperal.testing:FlakyEMT; "
        "allowed: asap_cutoff, every"
    )
    data = tiny(
        tmp_path,
        oracle={
            "name": "ase.calculators.lj.LennardJones",
            "kwargs": {"sigma": 2.3, "rc": 5.0},
        },
    )
    assert parse_config(data).oracle.kwargs == {"sigma": 2.3, "rc": 5.0}
    # a factory that fails when built, in one line
    data = tiny(
        tmp_path, oracle={"name": "ase.calculators.singlepoint.SinglePointCalculator"}
    )
    with pytest.raises(
        ConfigError,
        match=r"^oracle.kwargs: .* cannot be built: "
        "TypeError: .*atoms",
    ):
        parse_config(data)


def test_a_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "campaign.yaml"
    text = yaml.safe_dump(tiny(tmp_path))
    path.write_text(text + "loops: 7\n")  # `loops` is already in the file
    with pytest.raises(ConfigError, match=r"key 'loops' given twice \(lines \d+ and"):
        load_config(path)
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2 and "given twice" in result.output
    assert "Traceback" not in result.output


def test_wrong_types_and_ranges_are_named_with_the_other_sections_problems(tmp_path):
    """A file with type errors in some sections still hears the problems of
    the sections that validate (scheme parameter types from the evolver's
    dataclass, derivation parameters, seed range, density order)."""
    data = tiny(tmp_path)
    data["system"]["derive_metal"] = {"displacement_std_A": "abc"}
    data["system"]["random"]["density_g_cm3"] = [9.0, 7.0]
    data["scheme"] = {"name": "advb_md", "params": {"alpha": "x", "record_every": 1.5}}
    data["seed"] = -1
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value).splitlines() == [
        "system.derive_metal: displacement_std_A: expected float, got 'abc'",
        "system.random.density_g_cm3: must be (low, high) with 0 < low <= high, "
        "got (9.0, 7.0)",
        "scheme.bias.alpha: expected float or 'auto', got 'x'",
        "scheme.params.record_every: Input should be a valid integer, got a "
        "number with a fractional part",
        "seed: Input should be greater than or equal to 0",
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"ensemble": "npt"}, "ensemble: must be one of 'nvt' or 'nve'"),
        (
            {"keep_momenta": "maybe"},
            "keep_momenta: Input should be a valid boolean, unable to interpret input",
        ),
        ({"temperature_K": [300]}, "temperature_K: Input should be a valid number"),
        (
            {"temperature_K": -5.0},
            "temperature_K: must be a finite number >= 0, got -5.0",
        ),
    ],
)
def test_scheme_parameter_types(tmp_path, params, expected):
    data = tiny(tmp_path)
    data["scheme"] = {"name": "md", "params": params}
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    # a type from the typed scheme, a range from the evolver itself
    assert str(error.value) == f"scheme.params.{expected}"


def test_elements_interstitials_and_derivation_ranges(tmp_path):
    data = tiny(tmp_path)
    data["system"]["elements"] = ["Cu", "Ni", "Pd", "Cu"]
    with pytest.raises(ConfigError, match=r"^system.elements\[3\]: Cu given twice$"):
        parse_config(data)
    data = tiny(tmp_path)
    data["system"]["random"]["interstitials"] = {"Ni": [0.5, 0.4]}
    with pytest.raises(ConfigError, match=r"^system.random.interstitials: Ni: must"):
        parse_config(data)
    data = tiny(tmp_path)
    data["system"]["derive_metal"] = {"deletion_probability": 2}
    with pytest.raises(ConfigError, match="deletion_probability must be a probability"):
        parse_config(data)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"committee": {"hidden": [8, 0]}}, "committee.hidden[1]: Input should be"),
        ({"committee": {"cutoff_A": float("inf")}}, "committee.cutoff_A: Input should"),
        ({"initial": {"rattle_A": float("nan")}}, "initial.rattle_A: Input should be"),
        (
            {"committee": {"epochs": 5, "fit": {"epochs": 7}}},
            "committee: epochs is given twice",
        ),
        (
            {"committee": {"n_members": 10**9}},
            "committee.n_members: 3,795,000,000,000 weights",
        ),
        ({"oracle": {"name": "ase.Atoms"}}, "oracle.name: ase.Atoms gives a Atoms"),
        ({"store": "/proc/campaign.db"}, "store: cannot create files in folder /proc"),
        (
            {"oracle": {"name": "emt", "workdir": "/proc/calls"}},
            "oracle.workdir: cannot create folders under /proc",
        ),
    ],
)
def test_values_that_used_to_fail_late_are_named_at_load(tmp_path, overrides, expected):
    """Each once passed validation and failed at the first fit or oracle
    call (or hung, or raised a bare error): now one line naming the key."""
    with pytest.raises(ConfigError) as error:
        parse_config(tiny(tmp_path, **overrides))
    message = str(error.value)
    assert message.count("\n") == 0 and message.startswith(expected), message


def test_a_bad_sublattice_of_species_is_named(tmp_path):
    data = tiny(tmp_path)
    data["system"]["metal_phases"][0]["species"] = {"4a": {"Cu": 0.5, "Ni": 0.5}}
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value) == (
        "system.metal_phases[0]: species: fcc has sublattices metal; got 4a"
    )


def test_unreadable_files_and_a_negative_seed_are_named(tmp_path):
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(bytes(range(256)))
    result = CliRunner().invoke(app, ["run", str(garbage)])
    assert result.exit_code == 2
    assert f"error: {garbage}: not a text file" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["run", str(tmp_path)])
    assert f"error: {tmp_path}: cannot be read" in " ".join(result.output.split())
    structures = tmp_path / "garbage.extxyz"
    structures.write_bytes(bytes(range(256)) * 4)
    out = str(tmp_path / "out.extxyz")
    derive = ["structures", "derive", str(structures), "-o", out]
    result = CliRunner().invoke(app, derive)
    assert f"{structures}: cannot be read as structures" in " ".join(
        result.output.split()
    )
    result = CliRunner().invoke(
        app,
        ["structures", "random", "--elements", "Cu", "--cutoff", "4", "--n", "1"]
        + ["--seed", "-3", "-o", out],
    )
    assert result.exit_code == 2 and "'--seed'" in result.output


def test_status_after_a_loop_0_whose_every_call_failed(tmp_path):
    """Not an empty table and "ran every loop": the calls, the failures and
    their reasons, and that a rerun continues; each failed call's folder is
    kept and recorded."""
    from pathlib import Path

    from hyperal.runs import Store

    data = tiny(
        tmp_path,
        oracle={"name": "hyperal.testing:FileEMT", "kwargs": {"unconverged_every": 1}},
        initial={"structures": 2, "relax_steps": 2},
    )
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["run", str(config)])
    # one call: the training start's (the test start's runs behind the fit)
    assert result.exit_code == 2 and "all 1 oracle calls failed" in result.output
    result = CliRunner().invoke(app, ["status", str(config)])
    text = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "no loop finished yet: 1 oracle call(s), 1 failed" in text
    assert "ran every loop" not in text and "reports no convergence" in text
    rows = Store(data["store"]).rows(Where(status=OracleStatus.FAILED))
    assert len(rows) == 1
    for row in rows:
        folder = Path(row.oracle_workdir)
        assert folder.parent == tmp_path / "campaign.calls"
        assert (folder / "input.xyz").exists()


def _load_recipe(path):
    from hyperal.runs.settings import load_with
    from hyperal.testsets import parse_recipe

    return load_with(path, parse_recipe)


@pytest.mark.parametrize(
    ("example", "load", "schema"),
    [
        (
            "benchmark-emt.yaml",
            "hyperal.benchmark.config:load_benchmark",
            "hyperal.benchmark.config:BenchmarkConfig",
        ),
        (
            "barriers-emt.yaml",
            "hyperal.barriers.config:load_barrier_config",
            "hyperal.barriers.config:BarrierConfig",
        ),
        (
            "testset-emt.yaml",
            f"{__name__}:_load_recipe",
            "hyperal.recipe:TestSetRecipe",
        ),
    ],
)
def test_a_misspelt_top_level_key_names_that_files_allowed_keys(
    tmp_path, example, load, schema
):
    """Each kind of file is answered with its own schema's keys (not the
    campaign's, whose formatter the others share)."""
    import importlib
    import shutil
    from pathlib import Path

    def resolve(path):
        module, name = path.split(":")
        return getattr(importlib.import_module(module), name)

    examples = Path(__file__).parents[2] / "examples"
    shutil.copytree(examples / "data", tmp_path / "data")
    data = yaml.safe_load((examples / example).read_text())
    data["seedz"] = 3
    path = tmp_path / example
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as error:
        resolve(load)(path)
    allowed = sorted(resolve(schema).model_fields)
    campaign = sorted(resolve("hyperal.campaign.config:CampaignConfig").model_fields)
    assert allowed != campaign
    assert str(error.value).splitlines()[-1] == (
        f"{path}: seedz: unknown key; allowed: {', '.join(allowed)}"
    )


def test_random_structure_mistakes_name_their_own_key(tmp_path):
    """A criterion that is no x = D/L names the criterion (not "x"); a cell
    too large to fill names the cutoff that made it (not the density)."""
    data = tiny(tmp_path)
    data["system"]["random"]["criterion"] = -1
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value).startswith(
        "system.random.criterion: must be an operating point ("
    )
    assert str(error.value).endswith("or a finite number x = D/L > 0, got -1.0")
    data = tiny(tmp_path)
    data["system"]["random"]["cutoff_A"] = 1000.0
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value).startswith(
        "system.random.cutoff_A: 1000 Å makes a 1,500.0 Å cubic cell; at a "
        "density up to "
    )
