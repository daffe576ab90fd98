"""The reference system: NbTiZr + O with universal-potential oracles
(CHGNet, SevenNet), GPAW, and enumerated initial data."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.build import bulk

from hyperal.campaign.config import EnumeratedInitial
from hyperal.campaign.validate import parse_config
from hyperal.oracle import Oracle
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus, Stage
from hyperal.runs.settings import ConfigError
from hyperal.structures.enumerate import count_decorations

ROOT = Path(__file__).resolve().parents[2]


def nbtizr_o(seed: int = 3):
    atoms = bulk("Nb", "bcc", a=3.4, cubic=True).repeat((2, 2, 2))
    atoms.symbols[[1, 3]] = "Ti"
    atoms.symbols[[5, 6]] = "Zr"
    atoms.append("O")
    atoms.positions[-1] = [1.7, 0.0, 0.0]  # an octahedral site
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_chgnet_oracle_labels_nbtizr_o_consistently():
    """Energy, forces and stress of a 17-atom NbTiZr+O cell; forces and
    stress are the energy's derivatives (central differences); a calculator
    reused for another structure does not return stale results."""
    pytest.importorskip("chgnet", reason="the chgnet extra is not installed")
    atoms = nbtizr_o()
    oracle = Oracle("chgnet", stress=True)
    label = oracle.label(atoms)
    assert label.ok and label.oracle == "chgnet", label.reason
    assert np.isfinite(label.energy) and label.forces.shape == (17, 3)
    assert label.stress.shape == (6,) and np.all(np.isfinite(label.stress))
    h = 3e-3
    moved = []
    for step in (-h, h):
        probe = atoms.copy()
        probe.positions[16, 0] += step
        moved.append(oracle.label(probe).energy)
    assert label.forces[16, 0] == pytest.approx(
        -(moved[1] - moved[0]) / (2 * h), rel=0.01
    )
    strained = []
    for step in (-h, h):
        probe = atoms.copy()
        f = np.eye(3)
        f[1, 1] += step
        probe.set_cell(atoms.cell[:] @ f.T, scale_atoms=True)
        strained.append(oracle.label(probe).energy)
    fd = (strained[1] - strained[0]) / (2 * h) / atoms.get_volume()
    assert label.stress[1] == pytest.approx(fd, abs=1e-3)
    other = oracle.label(nbtizr_o(seed=4))
    again = oracle.label(atoms)
    assert other.energy != label.energy and again.energy == pytest.approx(label.energy)


def test_a_missing_extra_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sevenn", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "sevenn.calculator", None)
    data = {
        "system": {
            "elements": ["Nb", "O"],
            "metal_phases": [{"prototype": "bcc", "species": ["Nb"]}],
        },
        "oracle": {"name": "sevenn"},
        "store": str(tmp_path / "c.db"),
    }
    with pytest.raises(ConfigError) as error:
        parse_config(data)
    assert str(error.value) == (
        "oracle.name: the sevenn oracle needs the sevenn package: pip install "
        "-c constraints.txt 'hyperal[sevenn]'"
    )


def test_gpaw_labels_a_two_atom_cell():
    pytest.importorskip(
        "gpaw",
        reason="GPAW is not installed: it needs libxc, BLAS, FFTW and a site "
        "configuration (README, 'The reference system')",
    )
    label = Oracle("gpaw", {"ecut_eV": 200.0, "kpt_density": 1.5}, stress=True).label(
        bulk("Nb", "bcc", a=3.3, cubic=True)
    )
    assert label.ok, label.reason
    assert label.forces.shape == (2, 3) and label.stress.shape == (6,)
    assert np.abs(label.forces).max() < 0.05  # the ideal lattice: no forces


def test_enumerated_initial_data_has_the_expected_count():
    # bcc with octahedral sites: 1 metal site and 3 octahedral sites per
    # primitive cell, all three related by the 3-fold axis, so in one cell a
    # decoration is the metal (2) times the number of O atoms (0-3): 8
    one = EnumeratedInitial(species=["Nb", "Ti"], interstitials=["O"], sizes=1)
    structures = one.structures(100, np.random.default_rng(0))
    assert len(structures) == 8
    counts = sorted((a.get_chemical_formula(), len(a)) for a in structures)
    assert counts == sorted(
        [("Nb", 1), ("Ti", 1), ("NbO", 2), ("OTi", 2)]
        + [("NbO2", 3), ("O2Ti", 3), ("NbO3", 4), ("O3Ti", 4)]
    )
    # at most half the atoms O: none with 2 or 3 O atoms
    half = one.model_copy(update={"interstitial_fraction": (0.0, 0.5)})
    assert len(half.structures(100, np.random.default_rng(0))) == 4
    # up to 2 cells: icet's count, and a seeded subset of it
    two = one.model_copy(update={"sizes": 2})
    parent = two.parent()
    every = two.structures(10**6, np.random.default_rng(0))
    assert len(every) == count_decorations(parent, two.site_species(parent), 2)
    subset = two.structures(10, np.random.default_rng(1))
    assert len(subset) == 10
    assert subset == two.structures(10, np.random.default_rng(1))
    keys = {(a.get_chemical_formula(), a.info["enumeration_index"]) for a in every}
    assert {
        (a.get_chemical_formula(), a.info["enumeration_index"]) for a in subset
    } <= keys
    assert one.lattice_parameter() == pytest.approx((3.300 + 3.306) / 2)


def _metals(tmp_path, **initial):
    return {
        "system": {
            "elements": ["Nb", "Ti", "O"],
            "metal_phases": [{"prototype": "bcc", "species": ["Nb", "Ti"]}],
        },
        "oracle": {"name": "emt"},
        "store": str(tmp_path / "c.db"),
        "initial": initial,
    }


def test_enumerated_initial_starts_and_their_mistakes(tmp_path):
    from hyperal.campaign.starts import initial_starts

    enumerated = {"species": ["Nb", "Ti"], "interstitials": ["O"], "sizes": 1}
    config = parse_config(
        _metals(tmp_path, source="enumerated", structures=20, enumerated=enumerated)
    )
    starts = initial_starts(config)
    assert len(starts) == 8  # all of them: fewer than asked for
    assert {s.source for s in starts} == {"enumerated"}
    assert {s.split.value for s in starts} == {"train", "gentle"}
    problems = [
        (
            {"source": "enumerated"},
            "initial.enumerated: required with initial.source: enumerated "
            "(lattice, species, interstitials, sizes)",
        ),
        (
            {"enumerated": enumerated},
            "initial.enumerated: given, but initial.source is not enumerated",
        ),
        (
            {"source": "enumerated", "enumerated": {**enumerated, "species": ["Zr"]}},
            "initial.enumerated.species: Zr is not in system.elements",
        ),
        (
            {
                "source": "enumerated",
                "enumerated": {**enumerated, "interstitial_fraction": [0.9, 1.0]},
            },
            "initial.enumerated: no structure is enumerated (sizes, "
            "concentration_restrictions and interstitial_fraction exclude every "
            "decoration)",
        ),
        (
            {"source": "enumerated", "enumerated": {**enumerated, "sizes": 6}},
            None,
        ),
    ]
    for initial, expected in problems:
        with pytest.raises(ConfigError) as error:
            parse_config(_metals(tmp_path, **initial))
        if expected is None:  # an enormous enumeration: refused with its size
            assert str(error.value).startswith("initial.enumerated.sizes: about ")
        else:
            assert str(error.value) == expected


def test_a_miniature_of_the_reference_campaign_runs(tmp_path):
    """examples/nbtizr-o.yaml, shrunk to seconds: enumerated initial data,
    derived metals and oxides, random starts, CHGNet labels, one loop."""
    pytest.importorskip("chgnet", reason="the chgnet extra is not installed")
    from hyperal.campaign.loop import Campaign
    from hyperal.runs.store import Store

    data = yaml.safe_load((ROOT / "examples/nbtizr-o.yaml").read_text())
    data = copy.deepcopy(data)
    data["initial"].update(structures=4, relax_steps=3)
    data["initial"]["enumerated"]["sizes"] = 2
    data["counts"] = {"derived_metal": 2, "derived_oxide": 1, "random": 1}
    data["scheme"]["steps"] = 5
    data["committee"].update(hidden=[8], n_members=2, fit={"epochs": 10})
    data["loops"] = 1
    data["store"] = str(tmp_path / "mini.db")
    metrics = Campaign(parse_config(data)).run()
    assert [m.loop for m in metrics] == [0, 1]
    store = Store(data["store"])
    labelled = store.rows(Where(status=OracleStatus.OK))
    assert labelled and {r.oracle for r in labelled} == {"chgnet"}
    assert {r.source for r in store.rows(Where(stage=Stage.INITIAL))} == {"enumerated"}
    assert {r.source for r in store.rows(Where(loop=1, stage=Stage.START))} == {
        "derived_metal",
        "derived_oxide",
        "random",
    }
