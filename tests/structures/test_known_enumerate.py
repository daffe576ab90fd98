"""Known prototypes and icet enumeration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import spglib
from ase.build import bulk

from hyperal.structures import (
    PROTOTYPES,
    count_decorations,
    enumerate_decorations,
    estimate_count,
    interstitial_parent,
    known_structures,
)
from hyperal.structures.known import supercell_repeat

SPACEGROUPS = {
    "bcc": ("Nb", 229, 2, 2.85),
    "fcc": ("Cu", 225, 4, 2.55),
    "hcp": ("Ti", 194, 2, 2.89),
    "omega": ("Ti", 191, 3, 2.66),
    "rocksalt": ("Mg", 225, 8, 2.10),
    "fluorite": ("Zr", 225, 12, 2.20),
    "rutile": ("Ti", 136, 6, 1.94),
    "monoclinic": ("Zr", 14, 12, 2.04),
}


def spacegroup_number(atoms) -> int:
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    return spglib.get_symmetry_dataset(cell, symprec=1e-3).number


@pytest.mark.parametrize("prototype", sorted(PROTOTYPES))
def test_prototypes_have_their_space_group_and_sane_distances(prototype):
    metal, number, natoms, shortest = SPACEGROUPS[prototype]
    (atoms,) = known_structures(prototype, metal)
    assert len(atoms) == natoms and spacegroup_number(atoms) == number
    d = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
    assert d.min() == pytest.approx(shortest, abs=0.02)
    if PROTOTYPES[prototype].kind == "oxide":
        counts = atoms.symbols.formula.count()
        assert counts["O"] in (counts[metal], 2 * counts[metal])
    assert atoms.info["source"] == "known" and atoms.info["prototype"] == prototype


def test_random_decoration_has_exact_counts_and_vegard_lattice():
    structures = known_structures("bcc", ["Nb", "Ti", "Zr"], n=3, min_atoms=50, rng=0)
    assert [a.info["repeat"] for a in structures] == [(3, 3, 3)] * 3
    for atoms in structures:
        assert atoms.symbols.formula.count() == {"Nb": 18, "Ti": 18, "Zr": 18}
    assert structures[0].get_chemical_symbols() != structures[1].get_chemical_symbols()
    assert structures[0].info["lattice_a"] == pytest.approx((3.300 + 3.306 + 3.609) / 3)
    # fractions, a vacancy species and an explicit lattice
    (atoms,) = known_structures(
        "rocksalt",
        {"cation": {"Ni": 0.75, "Mg": 0.25}, "anion": {"O": 7, "X": 1}},
        repeat=(2, 2, 2),
        lattice={"a": 4.2},
        rng=1,
    )
    assert atoms.symbols.formula.count() == {"Ni": 24, "Mg": 8, "O": 28}
    assert atoms.cell[0, 0] == pytest.approx(8.4)


def test_supercell_reaches_the_minimum_width():
    (atoms,) = known_structures("hcp", "Zr", min_width_A=12.0)
    volume = atoms.get_volume()
    c = atoms.cell[:]
    widths = [
        volume / np.linalg.norm(np.cross(c[(i + 1) % 3], c[(i + 2) % 3]))
        for i in range(3)
    ]
    assert min(widths) >= 12.0
    assert supercell_repeat(np.eye(3) * 2, 1, min_atoms=9) in {
        (3, 2, 2),
        (2, 3, 2),
        (2, 2, 3),
    }


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        (("bcc", []), {}, "species"),
        (("bcc", "Qq"), {}, "not a chemical symbol"),
        (("fcc", {"Cu": -1.0}), {}, "must be >= 0"),
        (("bcc", "Cu"), {}, "no default bcc parameters for Cu"),
        (("perovskite", "Sr"), {}, "prototype"),
        (("rutile", {"anion": "O"}), {}, "cation"),
        (("fcc", "Cu"), {"lattice": {"c": 3.0}}, "unknown c"),
        (("fcc", "Cu"), {"n": 0}, "n must be"),
        (("fcc", "Cu"), {"repeat": (1, 0, 1)}, "repeat"),
    ],
)
def test_known_errors_name_the_argument(args, kwargs, words):
    with pytest.raises(ValueError, match=words):
        known_structures(*args, **kwargs)


def test_binary_bcc_enumeration_matches_the_hand_count():
    """Binary decorations of bcc in supercells of 1 and 2 primitive cells.

    n = 1: pure A, pure B (2). n = 2: the index-2 sublattices of bcc are the 7
    non-zero classes of its reciprocal (fcc) lattice modulo 2; under the cubic
    point group they form two orbits — the simple cubic one (CsCl, B2) and the
    six face-diagonal ones (all equivalent). Each carries one AB decoration
    (AA/BB are the superperiodic pure cells, BA is AB translated): 2.
    Total 4."""
    parent = bulk("Nb", "bcc", a=3.3)
    structures = enumerate_decorations(parent, ["Nb", "Ti"], 2)
    assert len(structures) == 4 == count_decorations(parent, ["Nb", "Ti"], 2)
    formulas = sorted(a.get_chemical_formula() for a in structures)
    assert formulas == ["Nb", "NbTi", "NbTi", "Ti"]
    b2 = [a for a in structures if len(a) == 2 and spacegroup_number(a) == 221]
    assert len(b2) == 1  # CsCl
    assert estimate_count(parent, ["Nb", "Ti"], 2) >= 4


def test_interstitial_enumeration_removes_vacancies():
    parent = interstitial_parent("bcc", 3.4)
    assert len(parent) == 4  # one bcc site, three octahedral sites
    species = [["Nb", "Ti", "Zr"]] + [["O", "X"]] * 3
    structures = enumerate_decorations(parent, species, 1)
    # n = 1: 3 hosts × O-occupancies of 3 equivalent sites up to symmetry
    # (0, 1, 2, 3 O: the 3 sites are related by the cubic group) = 3 × 4
    assert len(structures) == 12 == count_decorations(parent, species, 1)
    assert all("X" not in a.get_chemical_symbols() for a in structures)
    assert sorted({a.symbols.formula.count().get("O", 0) for a in structures}) == [
        0,
        1,
        2,
        3,
    ]
    sample = enumerate_decorations(parent, species, 2, sample=5, rng=0)
    assert len(sample) == 5 and all(a.info["source"] == "enumerated" for a in sample)


def test_enormous_enumeration_is_refused_before_it_starts():
    parent = interstitial_parent("bcc", 3.4)
    species = [["Nb", "Ti", "Zr"]] + [["O", "X"]] * 3
    with pytest.raises(ValueError, match="sizes: about"):
        count_decorations(parent, species, 9)
    with pytest.raises(ValueError, match="species"):
        enumerate_decorations(parent, [], 1)
    with pytest.raises(ValueError, match=r"species\[1\] is empty"):
        enumerate_decorations(parent, [["Nb"], [], ["O"], ["O"]], 1)
    with pytest.raises(ValueError, match="sizes"):
        enumerate_decorations(parent, species, 0)
    assert math.isfinite(estimate_count(parent, species, 9))
