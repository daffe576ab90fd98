"""Campaign files: the template, and one clear line per mistake."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from hyperal.campaign import TEMPLATE, CampaignConfig, ConfigError, parse_config
from hyperal.cli.main import app


def test_template_validates_and_states_the_defaults():
    config = parse_config(yaml.safe_load(TEMPLATE))
    defaults = CampaignConfig(system=config.system, oracle=config.oracle)
    assert config == defaults
    assert config.counts.derived_metal == 50 and config.difficult_fraction == 0.2


def _error(data) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(loopz=3), "loopz: unknown key"),
        (lambda d: d.update(loops="many"), "loops: Input should be a valid integer"),
        (
            lambda d: d["counts"].update(random=-5),
            "counts.random: Input should be greater than or equal to 0",
        ),
        (lambda d: d.pop("oracle"), "oracle: missing (required)"),
        (
            lambda d: d["scheme"].update(name="mc"),
            "scheme.name: unknown scheme 'mc'; allowed: md, advb_md",
        ),
        (
            lambda d: d["executor"].update(kind="pbs"),
            "executor.kind: unknown executor kind 'pbs'; allowed: inprocess, "
            "process, dask, slurm",
        ),
        (
            lambda d: d["executor"].update(kind="process", cores=8),
            "executor: cores: only for kind slurm (kind is process)",
        ),
        (
            lambda d: d["executor"].update(kind="slurm", workers=4),
            "executor: workers: for kind slurm, say max_jobs",
        ),
        (
            lambda d: d["system"]["metal_phases"][0].update(prototype="perovskite"),
            "system.metal_phases[0].prototype: unknown prototype",
        ),
        (
            lambda d: d["system"].update(derive_metal={"shake": 1}),
            "system.derive_metal: unknown parameter(s) shake",
        ),
        (lambda d: d["oracle"].update(name="vasp"), "oracle.name: unknown oracle"),
        (
            lambda d: d["committee"].update(backend="nequip"),
            "committee.backend: unknown backend 'nequip'; allowed: bpnn, mace",
        ),
        (
            lambda d: d["committee"]["fit"].update(energy_weigth=3),
            "committee.fit.energy_weigth: unknown key; allowed: batch_size, "
            "bootstrap, energy_weight,",
        ),
        (
            lambda d: d["committee"]["fit"].update(epochs="many"),
            "committee.fit.epochs: Input should be a valid integer",
        ),
        (
            lambda d: d["committee"].update(activation="relu"),
            "committee.activation: must be one of 'silu' or 'tanh'",
        ),
        (
            lambda d: d.update(committee={"backend": "mace", "hidden": [8]}),
            "committee.hidden: unknown key; allowed: backend, correlation,",
        ),
        (
            lambda d: d.update(selection={"score": "entropy"}),
            "selection.score: unknown score 'entropy'; allowed: energy_sigma, "
            "force_sigma_max, force_sigma_mean, force_sigma_relative, "
            "force_sigma_relative_mean, gamma, force_magnitude, energy_above",
        ),
        (
            lambda d: d.update(selection={"batch": True, "rule": "random"}),
            "selection: batch: chooses by uncertainty; it needs a rule that "
            "ranks by the score (max_sigma), not random",
        ),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(change, expected):
    data = yaml.safe_load(TEMPLATE)
    change(data)
    message = _error(data)
    assert message.count("\n") == 0, message
    assert expected in message, message


def test_cli_reports_config_errors_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load(TEMPLATE)
    data["loopz"] = 1
    data["counts"]["random"] = -1
    bad.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert "loopz: unknown key" in result.output
    assert "counts.random" in result.output
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["run", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_init_writes_the_template(tmp_path):
    path = tmp_path / "campaign.yaml"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(path)]).exit_code == 0
    assert path.read_text() == TEMPLATE
    again = runner.invoke(app, ["init", str(path)])
    assert again.exit_code == 2 and "exists" in again.output


@pytest.mark.parametrize("name", ["campaign_demo.yaml", "campaign_full.yaml"])
def test_example_campaigns_validate_and_build_their_phases(name):
    from pathlib import Path

    from hyperal.campaign import load_config
    from hyperal.structures import known_structures

    config = load_config(Path(__file__).parents[2] / "examples" / name)
    for phase in config.system.metal_phases + config.system.oxide_phases:
        (atoms,) = known_structures(
            phase.prototype,
            phase.species,
            repeat=phase.repeat,
            min_atoms=phase.min_atoms,
            lattice=phase.lattice,
            rng=0,
        )
        assert len(atoms) >= phase.min_atoms


def test_committee_section_is_typed_per_backend():
    from hyperal.models.options import BPNNOptions, MACEOptions

    data = yaml.safe_load(TEMPLATE)
    data["committee"] = {"n_members": 3, "epochs": 20}  # no backend: the BPNN
    committee = parse_config(data).committee
    assert isinstance(committee, BPNNOptions) and committee.fit.epochs == 20
    data["committee"] = {"backend": "mace", "fit": {"max_num_epochs": 5}}
    committee = parse_config(data).committee
    assert isinstance(committee, MACEOptions) and committee.fit.max_num_epochs == 5


def test_every_selection_setting_reaches_select_frame():
    """Each selection key that select_frame takes is passed on by
    ``limits()``, with the user's value."""
    import inspect

    from hyperal.campaign.config import SelectionConfig
    from hyperal.evolve.select import select_frame

    taken = set(inspect.signature(select_frame).parameters)
    wanted = (taken & set(SelectionConfig.model_fields)) - {"candidates"}
    assert {"per_atom", "max_force_eV_A", "min_distance_A", "rule"} <= wanted
    config = SelectionConfig(
        per_atom=True, max_force_eV_A=7.5, min_distance_A=0.9, rule="random"
    )
    limits = config.limits()
    assert wanted <= set(limits)
    assert limits["per_atom"] is True and limits["max_force_eV_A"] == 7.5
    assert limits["min_distance_A"] == 0.9 and limits["rule"] == "random"


def test_the_template_lists_every_key(tmp_path, monkeypatch):
    """``hyperal init`` promises every key with its default: each key of the
    schema (of the sections the template fills in) is written in it, but
    ``initial.enumerated``, shown as a comment (it needs a lattice)."""
    from pydantic import BaseModel

    def schema_keys(model, prefix=""):
        out = []
        for name in type(model).model_fields:
            out.append(prefix + name)
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                out += schema_keys(value, f"{prefix}{name}.")
        return out

    def written(data, prefix=""):
        out = []
        for key, value in data.items():
            out.append(prefix + key)
            if isinstance(value, dict):
                out += written(value, f"{prefix}{key}.")
        return out

    monkeypatch.chdir(tmp_path)
    data = yaml.safe_load(TEMPLATE)
    missing = set(schema_keys(parse_config(data))) - set(written(data))
    assert missing == {"initial.enumerated"}
    assert "# enumerated: {lattice: bcc" in TEMPLATE


def test_a_typed_scheme_records_what_its_registry_name_recorded(tmp_path):
    """``scheme: {name: md, bias: {alpha: 2}}`` and the registry form
    ``{name: advb_md, params: {alpha: 2}}`` are one campaign: the same record
    (so a store written before typed schemes continues without
    ``--accept-changes``), in the shape stores have always held."""
    from hyperal.runs.fingerprint import fingerprint

    from .conftest import tiny

    legacy = parse_config(
        tiny(tmp_path, scheme={"name": "advb_md", "steps": 10, "params": {"alpha": 2}})
    )
    typed = parse_config(
        tiny(tmp_path, scheme={"name": "md", "steps": 10, "bias": {"alpha": 2}})
    )
    record = typed.model_dump(mode="json")
    expected = {"name": "advb_md", "steps": 10, "params": {"alpha": 2.0}}
    assert record["scheme"] == expected
    assert fingerprint(record) == fingerprint(legacy.model_dump(mode="json"))
    # the record reads back as the same scheme
    again = CampaignConfig.model_validate(record)
    assert again.scheme == typed.scheme and again.scheme.full_name == "advb_md"
    # a typed scheme without a bias is the plain one
    plain = parse_config(tiny(tmp_path, scheme={"name": "md", "steps": 10}))
    assert plain.scheme.full_name == "md" and not plain.scheme.biased


def test_slurm_time_limits_are_read_as_slurm_reads_them(tmp_path):
    from hyperal.runs.slurm import walltime_seconds

    from .conftest import tiny

    assert [
        walltime_seconds(t)
        for t in ("30", "30:15", "24:00:00", "2-00:00:00", "1-12", "1-12:30")
    ] == [1800, 1815, 86400, 172800, 129600, 131400]
    for bad in ("1:2:3:4", "abc", "-1", "", "1:-5"):
        with pytest.raises(ValueError, match="Slurm time limit"):
            walltime_seconds(bad)
    slurm = {"kind": "slurm", "walltime": "01:00:00"}
    data = tiny(tmp_path, executor={**slurm, "walltime": "1h"})
    with pytest.raises(ConfigError, match=r"executor.walltime: expected a Slurm"):
        parse_config(data)
    data = tiny(tmp_path, executor=slurm, oracle={"name": "emt", "timeout_s": 3600})
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value) == (
        "oracle.timeout_s: 3600 s is not below executor.walltime 01:00:00 "
        "(3600 s): a label would outlive its job"
    )
