"""Adversarial bias: push a structure toward where the committee disagrees.

U_total = Ē − α·σ_U and F_total = F̄ + α·∇σ_U, after the adversarial sampling of
Schwalbe-Koda, Tan & Gomez-Bombarelli, Nat. Commun. 12, 5104 (2021) and the
hyperactive-learning bias of van der Oord et al., npj Comput. Mater. 9, 168 (2023).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from hyperal.committee.statistics import UNCERTAINTY_KEYS

_REQUIRED = ("energy", "forces", "energy_uncertainty", "energy_uncertainty_gradient")
_STRESS_REQUIRED = ("stress", "energy_uncertainty_stress")
#: What :meth:`AdversarialBias.rebias` re-derives the biased results from.
_UNBIASED = (
    "committee_energy",
    "committee_forces",
    "energy_uncertainty",
    "energy_uncertainty_gradient",
)
#: Committee keys copied into the bias results unchanged (when the committee has
#: them), so that selection and logging see the uncertainty of a biased run.
PASSTHROUGH_KEYS = (*UNCERTAINTY_KEYS, "member_stresses")


class AdversarialBias(Calculator):
    """An ASE calculator that biases a committee toward its own disagreement.

    ``results`` holds the biased ``energy`` = ``free_energy`` = Ē − α·σ_U (eV),
    ``forces`` = F̄ + α·∇σ_U (eV/Å), and, when the committee offers stress and
    its strain derivative, ``stress`` = S̄ − α·(1/V)∂σ_U/∂ε (eV/Å³): forces and
    stress are exact derivatives of the biased energy, so every ASE optimizer,
    MD integrator and ``ContourExploration`` runs on it unchanged. The unbiased
    ``committee_energy`` and ``committee_forces`` and the committee's
    uncertainty keys (``energy_uncertainty``, ``energy_uncertainty_gradient``,
    ``forces_uncertainty``, ``member_energies``, ...) are passed through.

    Parameters
    ----------
    committee : ASE calculator
        Any calculator offering ``energy``, ``forces``, ``energy_uncertainty``
        and ``energy_uncertainty_gradient``, such as :class:`hyperal.Committee`.
    alpha : float
        Bias strength α >= 0 (unitless: σ_U is an energy). α = 0 reproduces
        the committee exactly (plain active learning).
    """

    def __init__(self, committee: Calculator, alpha: float, **kwargs):
        offered = set(getattr(committee, "implemented_properties", ()))
        missing = [key for key in _REQUIRED if key not in offered]
        if missing:
            raise ValueError(
                f"committee ({type(committee).__name__}) does not offer "
                f"{', '.join(missing)}; AdversarialBias needs a committee-like "
                "calculator such as hyperal.Committee"
            )
        super().__init__(**kwargs)
        self.committee = committee
        self.alpha = alpha
        self.has_stress = all(key in offered for key in _STRESS_REQUIRED)
        self.implemented_properties = [
            "energy",
            "free_energy",
            "forces",
            "committee_energy",
            "committee_forces",
            *(key for key in UNCERTAINTY_KEYS if key in offered),
            *(["stress"] if self.has_stress else []),
        ]

    @property
    def alpha(self) -> float:
        """Bias strength α >= 0; setting it discards cached results."""
        return self._alpha

    @alpha.setter
    def alpha(self, value: float) -> None:
        value = float(value)
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {value}")
        self._alpha = value
        self.reset()

    def rebias(self, alpha: float) -> None:
        """Set α and re-derive the biased results of the current configuration
        from the unbiased ones already computed (no new committee call); the
        cache is discarded when they are not there."""
        cached, atoms = self.results, self.atoms
        self.alpha = alpha  # resets the cache
        if all(key in cached for key in _UNBIASED):
            self.atoms, self.results = atoms, dict(cached)
            self._bias()

    def _bias(self) -> None:
        """The biased energy, forces and (when computed) stress from the
        unbiased values in ``results``: Ē − α·σ_U, F̄ + α·∇σ_U, S̄ − α·∂σ_U/∂ε."""
        r, alpha = self.results, self._alpha
        energy = r["committee_energy"] - alpha * r["energy_uncertainty"]
        r.update(
            energy=energy,
            free_energy=energy,
            forces=r["committee_forces"] + alpha * r["energy_uncertainty_gradient"],
        )
        if "committee_stress" in r:
            r["stress"] = r["committee_stress"] - alpha * r["energy_uncertainty_stress"]

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        committee = self.committee
        energy, forces, sigma, grad = (
            committee.get_property(key, self.atoms) for key in _REQUIRED
        )
        self.results = {
            key: committee.results[key]
            for key in PASSTHROUGH_KEYS
            if key in committee.results
        }
        self.results.update(
            committee_energy=energy,
            committee_forces=forces,
            energy_uncertainty=sigma,
            energy_uncertainty_gradient=grad,
        )
        if self.has_stress and "stress" in properties:
            stress, stress_grad = (
                committee.get_property(key, self.atoms) for key in _STRESS_REQUIRED
            )
            self.results["committee_stress"] = stress
            self.results["energy_uncertainty_stress"] = stress_grad
        self._bias()
