"""Perturbed-EMT members: ASE's EMT when unperturbed, diverse and seeded otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.calculators.emt import parameters as EMT_PARAMETERS

from hyperal.committee import PerturbedEMT, emt_committee, perturbed_emt_members


def test_unperturbed_parameters_reproduce_ase_emt(cuni):
    same = PerturbedEMT({s: EMT_PARAMETERS[s] for s in ("Cu", "Ni")})
    reference = EMT()
    assert same.get_potential_energy(cuni) == pytest.approx(
        reference.get_potential_energy(cuni), abs=1e-12
    )
    np.testing.assert_allclose(same.get_forces(cuni), reference.get_forces(cuni))


def test_perturbed_members_differ_and_are_seeded(cuni):
    first = perturbed_emt_members(3, ["Cu", "Ni"], rng=5)
    again = perturbed_emt_members(3, ["Cu", "Ni"], rng=5)
    energies = [m.get_potential_energy(cuni) for m in first]
    assert len(set(energies)) == 3
    assert energies == [m.get_potential_energy(cuni) for m in again]
    # Perturbing only Ni leaves a pure-Cu cell untouched.
    cu = cuni.copy()
    cu.symbols[:] = "Cu"
    (ni_only,) = perturbed_emt_members(1, ["Ni"], rng=0)
    assert ni_only.get_potential_energy(cu) == pytest.approx(
        EMT().get_potential_energy(cu), abs=1e-12
    )


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="no EMT parameters for 'Nb'"):
        perturbed_emt_members(2, ["Cu", "Nb"])
    with pytest.raises(ValueError, match="n_members"):
        perturbed_emt_members(0, ["Cu"])
    with pytest.raises(ValueError, match="relative_std"):
        perturbed_emt_members(2, ["Cu"], relative_std=-0.1)
    with pytest.raises(ValueError, match="elements"):
        perturbed_emt_members(2, [])
    with pytest.raises(ValueError, match="7 finite numbers"):
        PerturbedEMT({"Cu": (1.0, 2.0)})
    with pytest.raises(ValueError, match="at least 2 members"):
        emt_committee(1, ["Cu"])
