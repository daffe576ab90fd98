"""A tiny campaign: seconds on 2 cores."""

from __future__ import annotations

import copy

import pytest

TINY = {
    "system": {
        "elements": ["Cu", "Ni", "Pd"],
        "metal_phases": [
            {"prototype": "fcc", "species": ["Cu", "Ni", "Pd"], "repeat": [2, 2, 2]}
        ],
        "derive_metal": {"displacement_std_A": 0.1, "von_mises_strain": [0.0, 0.05]},
        "random": {"cutoff_A": 4.0, "density_g_cm3": [8.0, 10.0]},
    },
    "oracle": {"name": "emt"},
    "initial": {"structures": 6, "relax_steps": 6, "rattle_A": 0.15},
    "counts": {"derived_metal": 5, "derived_oxide": 0, "random": 2},
    "scheme": {"name": "advb_md", "steps": 10},
    "committee": {"n_members": 2, "hidden": [8], "cutoff_A": 4.0, "epochs": 40},
    "loops": 2,
}


def tiny(tmp_path, **overrides) -> dict:
    config = copy.deepcopy(TINY)
    config["store"] = str(tmp_path / "campaign.db")
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    return config


@pytest.fixture
def tiny_config():
    return tiny
