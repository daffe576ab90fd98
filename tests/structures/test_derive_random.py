"""Derived and random structures, SOI metrics, compositions and morphologies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms

from hyperal.structures import (
    OPERATING_POINTS,
    PlacementError,
    cell_edge,
    composition_counts,
    derive_structures,
    known_structures,
    random_structures,
    sample_compositions,
    sample_morphologies,
    soi_metrics,
    x_for,
)
from hyperal.structures.derive import species_kind
from hyperal.structures.random import minimum_distance
from hyperal.structures.strain import measured_strain


@pytest.fixture(scope="module")
def alloy():
    return known_structures("bcc", ["Nb", "Ti", "Zr"], repeat=(4, 4, 4), rng=0)[0]


@pytest.fixture(scope="module")
def derived(alloy):
    return derive_structures(alloy, 60, kind="metal", rng=1)


def test_derived_statistics_match_their_parameters(alloy, derived):
    n_parent = len(alloy) * len(derived)
    deleted = sum(a.info["n_deleted"] for a in derived)
    assert deleted / n_parent == pytest.approx(0.05, abs=0.01)  # 7680 atoms
    assert sum(len(a) for a in derived) == n_parent - deleted
    substituted = sum(a.info["n_substituted"] for a in derived)
    assert substituted / n_parent == pytest.approx(0.5, abs=0.02)
    displacement = np.concatenate([a.arrays["displacement"].ravel() for a in derived])
    assert displacement.std() == pytest.approx(0.4, rel=0.03)
    assert abs(displacement.mean()) < 0.01
    volumetric, von_mises = [], []
    for atoms in derived:
        strain = measured_strain(alloy.cell[:], atoms.cell[:])
        assert strain["volumetric"] == pytest.approx(atoms.info["volumetric_strain"])
        assert strain["von_mises"] == pytest.approx(atoms.info["von_mises_strain"])
        volumetric.append(strain["volumetric"])
        von_mises.append(strain["von_mises"])
    assert -0.025 <= min(volumetric) and max(volumetric) <= 0.075
    assert 0 <= min(von_mises) and max(von_mises) <= 0.20
    assert max(von_mises) > 0.15 and max(volumetric) > 0.05  # the ranges are used


def test_substitution_respects_the_sublattice_kind():
    (oxide,) = known_structures(
        "rocksalt", {"cation": ["Mg", "Ni"]}, repeat=(3, 3, 3), rng=0
    )
    derived = derive_structures(
        oxide,
        20,
        kind="oxide",
        species={"metal": ["Mg", "Ni", "Co"], "anion": ["O"]},
        deletion_probability=0.0,
        displacement_std_A=0.0,
        rng=2,
    )
    for atoms in derived:
        kinds = [species_kind(s) for s in atoms.get_chemical_symbols()]
        assert kinds == [species_kind(s) for s in oxide.get_chemical_symbols()]
    rate = sum(a.info["n_substituted"] for a in derived) / (20 * len(oxide))
    assert rate == pytest.approx(0.1 * 0.5, abs=0.015)  # only cations can change
    assert derived[0].info["parent_prototype"] == "rocksalt"
    assert derived[0].info["displacement_std_A"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"deletion_probability": -0.1}, "deletion_probability"),
        ({"substitution_probability": 1.5}, "substitution_probability"),
        ({"displacement_std_A": -1.0}, "displacement_std_A"),
        ({"volumetric_strain": (0.1, 0.0)}, "volumetric_strain"),
        ({"kind": "glass"}, "kind"),
        ({"species": {"cation": ["Mg"]}}, "species"),
        ({"n": -1}, "n must"),
        ({"stretch": 1.0}, "unknown parameter"),
    ],
)
def test_derive_errors_name_the_argument(alloy, kwargs, words):
    kwargs = {"n": 1, **kwargs}
    with pytest.raises(ValueError, match=words):
        derive_structures(alloy, **kwargs)
    with pytest.raises(ValueError, match="parents"):
        derive_structures([], 1)


def _pair_violations(atoms):
    d = atoms.get_all_distances(mic=True)
    symbols = atoms.get_chemical_symbols()
    bad = 0
    for i in range(len(atoms)):
        for j in range(i + 1, len(atoms)):
            bad += d[i, j] < minimum_distance(symbols[i], symbols[j]) - 1e-9
    return bad


def test_random_structures_respect_minimum_distances_and_density():
    structures = random_structures(
        8,
        {"Nb": 1, "Ti": 1, "Zr": 1, "O": 0.5},
        cutoff_A=5.0,
        density_g_cm3=(5.5, 6.5),
        rng=3,
    )
    for atoms in structures:
        assert _pair_violations(atoms) == 0
        assert atoms.cell[0, 0] == pytest.approx(7.5)  # 2·5 / (4/3)
        # the atom count is rounded: density within one atom of the range
        one_atom = 91.2 / 421.875 * 1.6605
        assert 5.5 - one_atom <= atoms.info["density_g_cm3"] <= 6.5 + one_atom
        assert atoms.info["source"] == "random"


def test_random_components_go_in_whole():
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    structures = random_structures(
        4,
        {"Cu": 1},
        cutoff_A=4.0,
        criterion=1.0,
        n_atoms=(10, 20),
        components=[water, water],
        rng=4,
    )
    for atoms in structures:
        assert atoms.get_chemical_symbols()[:6] == ["O", "H", "H"] * 2
        assert atoms.get_distance(0, 1, mic=True) == pytest.approx(0.96)
        assert atoms.get_distance(3, 5, mic=True) == pytest.approx(
            np.hypot(0.24, 0.93), rel=1e-6
        )
        assert 10 <= len(atoms) - 6 <= 20


def test_random_placement_is_bounded():
    with pytest.raises(ValueError, match="density_g_cm3"):
        random_structures(1, {"Cu": 1}, cutoff_A=5.0, density_g_cm3=(30, 40))
    with pytest.raises(PlacementError, match="could not place"):
        # packing 0.5: below close packing, beyond random sequential addition
        random_structures(
            1,
            {"Cu": 1},
            cutoff_A=5.0,
            n_atoms=64,
            max_attempts=50,
            max_restarts=2,
            rng=0,
        )


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"composition": {}}, "composition"),
        ({"composition": {"Cu": -1}}, "composition"),
        ({"cutoff_A": -2.0}, "cutoff_A"),
        ({"density_g_cm3": None}, "exactly one"),
        ({"criterion": "huge"}, "criterion"),
        ({"min_distance": -1.0}, "min_distance"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_random_errors_name_the_argument(kwargs, words):
    args = {"composition": {"Cu": 1}, "cutoff_A": 5.0, "density_g_cm3": (8, 9)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=words):
        random_structures(1, **args)


def test_soi_ratios_equal_the_closed_forms_at_the_named_points():
    pi = math.pi
    expected = {
        "inscribed_sphere": (pi / 6, 1.0, 6 / pi, 1.0),
        "unique_volume_equals_soi": (None, None, 1.0, None),
        "cell_volume_equals_soi": (1.0, None, None, pi / 6),
        "inner_half_unique": (pi / 6 * (4 / 3) ** 3, 0.5, 6 / pi / 8, 27 / 64),
        "soi_touches_edges": (pi / 6 * 2**1.5, math.sqrt(2) - 1, None, 2**-1.5),
        "soi_circumscribes_cell": (
            pi / 6 * 3**1.5,
            2 / math.sqrt(3) - 1,
            None,
            3**-1.5,
        ),
    }
    keys = (
        "soi_over_cell",
        "unique_radius_over_cutoff",
        "unique_volume_over_soi",
        "relative_cell_volume",
    )
    assert set(expected) == set(OPERATING_POINTS)
    for name, values in expected.items():
        metrics = soi_metrics(x_for(name))
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                assert metrics[key] == pytest.approx(value, rel=1e-12), (name, key)
    assert cell_edge(6.0, "inscribed_sphere") == pytest.approx(12.0)
    assert cell_edge(6.0, 1.5) == pytest.approx(8.0)
    assert soi_metrics(3.0)["unique_volume_over_soi"] == 0.0
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="x"):
            soi_metrics(bad)


def test_compositions_are_biased_toward_equimolar():
    compositions = sample_compositions(
        ["Nb", "Ti", "Zr"], 2000, interstitials={"O": (0.0, 0.3)}, rng=5
    )
    o = np.array([c["O"] for c in compositions])
    assert 0 <= o.min() and o.max() <= 0.3 and o.mean() == pytest.approx(0.15, abs=0.01)
    for c in compositions[:20]:
        assert sum(c.values()) == pytest.approx(1.0)
    host = np.array(
        [[c[s] / (1 - c["O"]) for s in ("Nb", "Ti", "Zr")] for c in compositions]
    )
    near = np.abs(host - 1 / 3).max(axis=1) < 0.15
    # 4 near-equimolar (almost all within 0.15) for 1 random (~1/4 within)
    assert near.mean() == pytest.approx(0.8 + 0.2 * 0.25, abs=0.04)
    assert composition_counts({"A": 0.5, "B": 0.3, "C": 0.2}, 7) == {
        "A": 4,
        "B": 2,
        "C": 1,
    }
    with pytest.raises(ValueError, match="elements"):
        sample_compositions([], 1)
    with pytest.raises(ValueError, match="interstitials"):
        sample_compositions(["Nb"], 1, interstitials={"O": (-0.1, 0.2)})


def test_morphologies_stay_in_their_ranges():
    conventional = known_structures("bcc", "Nb")[0]
    for m in sample_morphologies(40, rng=6):
        assert set(m.repeat) <= {2, 3}
        atoms = m.apply(conventional)
        assert len(atoms) == 2 * np.prod(m.repeat)
        reference = conventional.repeat(m.repeat).cell[:]
        strain = measured_strain(reference, atoms.cell[:])
        linear = (1 + strain["volumetric"]) ** (1 / 3) - 1
        assert linear == pytest.approx(m.linear_strain, abs=1e-9)
        assert -0.05 <= linear <= 0.10
        assert strain["von_mises"] == pytest.approx(m.von_mises_strain, abs=1e-9)
        assert m.von_mises_strain <= 0.05
    with pytest.raises(ValueError, match="repeats"):
        sample_morphologies(1, repeats=[])
    with pytest.raises(ValueError, match="von_mises_strain"):
        sample_morphologies(1, von_mises_strain=(-0.1, 0.1))
