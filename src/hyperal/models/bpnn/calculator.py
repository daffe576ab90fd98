"""The ASE calculator over a BPNN committee."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from hyperal.committee.results import committee_results
from hyperal.committee.statistics import UNCERTAINTY_KEYS
from hyperal.models.bpnn.graph import Graph


class Evaluates(Protocol):
    """What the calculator asks of a BPNN committee
    (:class:`~hyperal.models.bpnn.model.BPNN`): its member count, the graph
    of a structure and the committee's evaluation of it."""

    @property
    def n_members(self) -> int: ...

    def graph(self, atoms: Atoms) -> Graph: ...

    def evaluate(self, graph: Graph, *, members: bool) -> dict: ...


_MEMBER_KEYS = ("member_forces", "forces_uncertainty", "member_stresses")


class BPNNCalculator(Calculator):
    """ASE calculator over a :class:`BPNN` committee, with the keys of
    :class:`hyperal.Committee`.

    ``energy``, ``free_energy``, ``forces``, ``stress`` (periodic cells) are
    committee means; ``member_energies``, ``energy_uncertainty``,
    ``energy_uncertainty_per_atom``, ``energy_uncertainty_gradient`` and
    ``energy_uncertainty_stress`` come with every evaluation at the cost of one
    extra contraction (not M backward passes). ``member_forces``,
    ``forces_uncertainty`` and ``member_stresses`` need one contraction per
    member and are computed when asked for (the descriptors are re-used), or
    always with ``always_member_forces=True``.
    """

    def __init__(
        self, model: Evaluates, *, always_member_forces: bool = False, **kwargs
    ):
        super().__init__(**kwargs)
        self.model = model
        self.always_member_forces = always_member_forces
        self._graph = None  # descriptors of self.atoms, re-used for new properties
        props = ["energy", "free_energy", "forces", "stress"]
        if model.n_members > 1:
            props += [*UNCERTAINTY_KEYS, "energy_uncertainty_stress", "member_stresses"]
        self.implemented_properties = props

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if system_changes or self._graph is None:
            self._graph = self.model.graph(atoms)
        members = self.always_member_forces or any(
            p in _MEMBER_KEYS for p in properties
        )
        r = self.model.evaluate(self._graph, members=members)
        periodic = atoms.cell.rank == 3 and atoms.pbc.all()
        volume = atoms.get_volume() if periodic else None

        def voigt(strain):  # (1/V) dE/dε, symmetrised, Voigt order
            if strain is None:
                return None
            return full_3x3_to_voigt_6_stress(strain) / volume

        member_stresses = None
        if periodic and members:
            member_stresses = np.stack(
                [voigt(s) for s in r["member_strain_derivative"]]
            )
        self.results = committee_results(
            r["member_energies"],
            r["forces"],
            energy_uncertainty_gradient=r.get("energy_uncertainty_gradient"),
            member_forces=r.get("member_forces") if members else None,
            stress=voigt(r["strain_derivative"]) if periodic else None,
            member_stresses=member_stresses,
            energy_uncertainty_stress=(
                voigt(r.get("energy_uncertainty_strain")) if periodic else None
            ),
        )
