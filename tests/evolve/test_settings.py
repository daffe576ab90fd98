"""Typed schemes: one model per evolver family, the bias said once, the
registry names (advb_*) as aliases that keep old files and stores matching."""

import dataclasses

import pytest
from pydantic import ValidationError

from hyperal.evolve import SCHEMES
from hyperal.evolve.settings import (
    CEParams,
    DimerParams,
    MDParams,
    RelaxParams,
    SchemeSection,
    scheme_settings,
)
from hyperal.runs.settings import format_errors


def errors(data) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        scheme_settings(data)
    return format_errors(caught.value, SchemeSection).splitlines()


@pytest.mark.parametrize("name", list(SCHEMES))
def test_every_registry_name_loads_and_keeps_its_name(name):
    scheme = scheme_settings({"name": name})
    assert scheme.full_name == name
    assert scheme.name == name.removeprefix("advb_")
    assert scheme.biased == SCHEMES[name].biased
    # what a store records is the registry form, with only what the file gave
    assert scheme.model_dump(mode="json") == {"name": name, "steps": 100, "params": {}}


@pytest.mark.parametrize(
    ("legacy", "typed"),
    [
        (
            {"name": "advb_md", "params": {"alpha": 2.0, "temperature_K": 600.0}},
            {"name": "md", "bias": {"alpha": 2.0}, "params": {"temperature_K": 600.0}},
        ),
        (
            {"name": "advb_md", "params": {"alpha": "auto", "alpha_relative": 0.3}},
            {"name": "md", "bias": {"alpha": "auto", "alpha_relative": 0.3}},
        ),
        (
            {"name": "advb_ce", "steps": 7, "params": {"gamma": 0.5}},
            {"name": "ce", "steps": 7, "bias": {"gamma": 0.5}},
        ),
        ({"name": "advb_relax"}, {"name": "relax", "bias": {}}),
        ({"name": "dimer"}, {"name": "dimer", "bias": None}),
        (
            {"name": "md", "params": {"alpha": 0.0}},
            {"name": "md", "bias": {"alpha": 0}},
        ),
        ({"steps": 8}, {"name": "ce", "steps": 8, "bias": {}}),  # the default
    ],
)
def test_a_registry_name_is_an_alias_of_the_family_with_its_bias(legacy, typed):
    old, new = scheme_settings(legacy), scheme_settings(typed)
    assert type(old) is type(new)
    assert old.full_name == new.full_name
    assert old.given_params == new.given_params
    # the same record as the registry form: stores written before still match
    expected = {"steps": 100, **legacy, "params": legacy.get("params", {})}
    expected.setdefault("name", "advb_ce")
    assert new.model_dump(mode="json") == expected


@pytest.mark.parametrize(
    ("model", "evolver"),
    [
        (MDParams, "md"),
        (RelaxParams, "relax"),
        (CEParams, "ce"),
        (DimerParams, "dimer"),
    ],
)
def test_params_are_the_evolvers_own_fields_and_defaults(model, evolver):
    fields = {
        f.name: f.default
        for f in dataclasses.fields(SCHEMES[evolver].evolver)
        if f.init and f.name not in ("calculator", "rng")
    }
    bias = {"alpha", "alpha_relative", "alpha_smoothing", "gamma"}  # in `bias`
    assert set(model.model_fields) == set(fields) - bias
    for name, field in model.model_fields.items():
        assert field.default == fields[name], name


def test_mistakes_name_the_key_and_what_is_allowed():
    assert errors({"name": "mc"}) == [
        "scheme.name: unknown scheme 'mc'; allowed: " + ", ".join(SCHEMES)
    ]
    assert errors({"name": "md", "bias": {"gamma": 1.0}}) == [
        "scheme.bias.gamma: unknown key; allowed: alpha, alpha_relative, "
        "alpha_smoothing"
    ]
    assert errors({"name": "ce", "bias": {"alpha": 1.0}}) == [
        "scheme.bias.alpha: unknown key; allowed: gamma"
    ]
    assert errors({"name": "md", "bias": {"alpha": -1}}) == [
        "scheme.bias.alpha: must be >= 0 or auto, got -1.0"
    ]
    assert errors({"name": "relax", "params": {"fmax": 0.1}})[0].startswith(
        "scheme.params.fmax: unknown key; allowed: blowup_distance_A"
    )
    (plain,) = errors({"name": "md", "params": {"alpha": 2.0}})
    assert "plain scheme 'md' is unbiased" in plain and "bias: {alpha: 2.0}" in plain
    (zero,) = errors({"name": "advb_md", "params": {"alpha": 0}})
    assert "must be > 0 for 'advb_md'" in zero and "use 'md'" in zero
    (named,) = errors({"name": "advb_ce", "bias": {"gamma": 0}})
    assert "must be > 0 for 'advb_ce'" in named
    (twice,) = errors({"name": "advb_md", "bias": {}, "params": {"alpha": 2.0}})
    assert "not in params as well" in twice


def test_bias_zero_is_the_plain_scheme():
    assert scheme_settings({"name": "md", "bias": {"alpha": 0}}).full_name == "md"
    assert scheme_settings({"name": "ce", "bias": {"gamma": 0}}).full_name == "ce"
    assert scheme_settings({"name": "md", "bias": {"alpha": "auto"}}).biased
