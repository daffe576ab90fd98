"""A committee of ASE calculators with energy uncertainty and its gradient.

The committee mean is the prediction and the spread of the member energies is the
uncertainty, as in query-by-committee active learning (Seung, Opper & Sompolinsky,
COLT 1992) and its use for MLIPs by Artrith & Behler, PRB 85, 045439 (2012). The
gradient of the spread drives the adversarial bias, the biased energy E − α·σ_U of
hyperactive learning (van der Oord et al., npj Comput. Mater. 9, 168 (2023)) and
uncertainty-driven dynamics (Kulichenko et al., Nat. Comput. Sci. 3, 230 (2023));
for energy-only committees it needs nothing but member energies and forces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from hyperal.committee.results import member_results
from hyperal.committee.statistics import (
    SIGMA_EPS_EV,
    STRESS_KEYS,
    UNCERTAINTY_KEYS,
)


class Committee(Calculator):
    """An ASE calculator over M >= 2 member calculators.

    Energy, forces and stress are the member means; the members' spread is the
    uncertainty. After a calculation ``results`` holds:

    ``energy``, ``free_energy`` (eV)
        Ē, the mean member energy (``free_energy`` equals it).
    ``forces`` (N, 3), eV/Å
        F̄, the mean member forces.
    ``member_energies`` (M,), eV
        Member energies. (Not ``energies``: ASE reads that key as per-atom
        energies, and ``ase.io.write`` of a structure carrying the calculator
        would fail on M values where N are expected.)
    ``member_forces`` (M, N, 3), eV/Å
        Member forces.
    ``energy_uncertainty``, eV
        σ_U, the population standard deviation of the member energies.
    ``energy_uncertainty_per_atom``, eV/atom
        σ_U / N, to compare cells of different size.
    ``energy_uncertainty_gradient`` (N, 3), eV/Å
        ∇σ_U with respect to positions (see :func:`committee_statistics`).
    ``forces_uncertainty`` (N,), eV/Å
        Per-atom force disagreement sqrt(mean_i |F_i,a − F̄_a|²).

    When every member implements stress and stress is asked for, also
    ``stress`` (6,), ``member_stresses`` (M, 6) and ``energy_uncertainty_stress``
    (6,) = (1/V) ∂σ_U/∂ε, Voigt order, eV/Å³.

    Each member is evaluated once per configuration: energy and forces are
    requested together and the members' own caches serve any later request.

    Parameters
    ----------
    members : sequence of ASE calculators
        At least two distinct calculator objects (one object listed twice would
        silently share its cache and state). Members should give forces
        consistent with their energies (MLIPs do), since ∇σ_U is built from both.
    sigma_eps_eV : float
        Regularisation of σ_U in its derivatives (eV), see
        :func:`committee_statistics`.
    """

    def __init__(
        self,
        members: Sequence[Calculator],
        *,
        sigma_eps_eV: float = SIGMA_EPS_EV,
        **kwargs,
    ):
        members = list(members)
        if len(members) < 2:
            raise ValueError(
                f"a Committee needs at least 2 members, got {len(members)}: "
                "the uncertainty is the spread between members"
            )
        for i, member in enumerate(members):
            if not callable(getattr(member, "get_property", None)):
                raise TypeError(
                    f"member {i} ({type(member).__name__}) is not an ASE "
                    "calculator: it has no get_property method"
                )
        if len({id(member) for member in members}) != len(members):
            raise ValueError(
                "Committee members must be distinct calculator objects; the same "
                "object appears more than once"
            )
        if not sigma_eps_eV > 0:
            raise ValueError(f"sigma_eps_eV must be > 0, got {sigma_eps_eV}")
        super().__init__(**kwargs)
        self.members = members
        self.sigma_eps_eV = float(sigma_eps_eV)
        self.has_stress = all(
            "stress" in getattr(member, "implemented_properties", ())
            for member in members
        )
        self.implemented_properties = [
            "energy",
            "free_energy",
            "forces",
            *UNCERTAINTY_KEYS,
            *(STRESS_KEYS if self.has_stress else ()),
        ]

    def __len__(self) -> int:
        return len(self.members)

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        n_atoms = len(atoms)
        want_stress = self.has_stress and any(p in STRESS_KEYS for p in properties)

        energies = np.empty(len(self.members))
        forces = np.empty((len(self.members), n_atoms, 3))
        stresses = np.empty((len(self.members), 6)) if want_stress else None
        for i, member in enumerate(self.members):
            energies[i] = member.get_property("energy", atoms)
            member_forces = np.asarray(member.get_property("forces", atoms))
            if member_forces.shape != (n_atoms, 3):
                raise ValueError(
                    f"member {i} ({type(member).__name__}) returned forces of "
                    f"shape {member_forces.shape} for {n_atoms} atoms; every "
                    f"member must give ({n_atoms}, 3)"
                )
            forces[i] = member_forces
            if stresses is not None:
                stress = np.asarray(member.get_property("stress", atoms))
                # ASE's convention is Voigt (6,); accept a full 3x3 tensor too.
                stresses[i] = (
                    full_3x3_to_voigt_6_stress(stress)
                    if stress.shape == (3, 3)
                    else stress
                )

        self.results = member_results(
            energies, forces, stresses, sigma_eps_eV=self.sigma_eps_eV
        )
