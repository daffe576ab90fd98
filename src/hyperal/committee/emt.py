"""EMT variants with perturbed parameters: a cheap, genuinely diverse committee.

A committee of identical calculators has no spread, and one of rescaled copies of
one calculator has a trivial gradient (∇σ_U ∝ F). Perturbing the seven EMT
parameters per element (Jacobsen, Stoltze & Nørskov, Surf. Sci. 366, 394 (1996))
gives members that disagree the way independently fitted MLIPs do: on equilibrium
distances, stiffness and cohesion. Used by the tests, the demo and benchmarks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from ase.calculators.emt import EMT
from ase.calculators.emt import parameters as EMT_PARAMETERS
from ase.data import chemical_symbols
from ase.units import Bohr

from hyperal.committee.committee import Committee

#: Names of the seven EMT parameters, in ASE's table order (units as in ASE).
EMT_PARAMETER_NAMES = ("E0", "s0", "V0", "eta2", "kappa", "lambda", "n0")


class PerturbedEMT(EMT):
    """ASE's EMT with some elements' parameters replaced.

    Parameters
    ----------
    emt_parameters : mapping of element symbol -> 7 numbers
        Replacement (E0 eV, s0 bohr, V0 eV, eta2 1/bohr, kappa 1/bohr,
        lambda 1/bohr, n0 1/bohr³) for the given elements, as in
        ``ase.calculators.emt.parameters``; other elements keep ASE's values.
        The neighbour cutoff stays ASE's, so members share one smooth cutoff.
    """

    def __init__(self, emt_parameters: Mapping[str, Sequence[float]], **kwargs):
        table = {}
        for symbol, values in emt_parameters.items():
            if symbol not in EMT_PARAMETERS:
                raise ValueError(
                    f"emt_parameters: no EMT parameters for element {symbol!r}; "
                    f"known: {', '.join(EMT_PARAMETERS)}"
                )
            values = tuple(float(v) for v in values)
            if len(values) != 7 or not np.all(np.isfinite(values)):
                raise ValueError(
                    f"emt_parameters[{symbol!r}] must be 7 finite numbers "
                    f"{EMT_PARAMETER_NAMES}, got {values}"
                )
            table[symbol] = values
        super().__init__(**kwargs)
        self.emt_parameters = table

    def initialize(self, atoms):
        super().initialize(atoms)
        # Overwrite the per-element parameters exactly as EMT.initialize derives
        # them from its table (ase/calculators/emt.py, ASE 3.29).
        for i, z in enumerate(self.par["Z"]):
            p = self.emt_parameters.get(chemical_symbols[int(z)])
            if p is None:
                continue
            s0, eta2, kappa = p[1] * Bohr, p[3] / Bohr, p[4] / Bohr
            gamma1, gamma2 = self._calc_gammas(s0, eta2, kappa)
            self.par["E0"][i] = p[0]
            self.par["s0"][i] = s0
            self.par["V0"][i] = p[2]
            self.par["eta2"][i] = eta2
            self.par["kappa"][i] = kappa
            self.par["lambda"][i] = p[5] / Bohr
            self.par["n0"][i] = p[6] / Bohr**3
            self.par["inv12gamma1"][i] = 1.0 / (12.0 * gamma1)
            self.par["neghalfv0overgamma2"][i] = -0.5 * p[2] / gamma2
        self.chi = self.par["n0"][None, :] / self.par["n0"][:, None]


def perturbed_emt_members(
    n_members: int,
    elements: Sequence[str],
    *,
    relative_std: float = 0.02,
    rng: np.random.Generator | int | None = None,
) -> list[PerturbedEMT]:
    """EMT calculators whose parameters are ASE's times (1 + relative_std·N(0, 1)).

    Parameters
    ----------
    n_members : int
        Number of calculators, >= 1.
    elements : sequence of str
        Elements whose parameters are perturbed (each must have EMT parameters).
    relative_std : float
        Relative standard deviation of each parameter, >= 0 (0.02 = 2 %).
    rng : numpy Generator, int seed or None
        Source of the perturbations.
    """
    if n_members < 1:
        raise ValueError(f"n_members must be >= 1, got {n_members}")
    if not elements:
        raise ValueError("elements must name at least one element")
    if not relative_std >= 0:
        raise ValueError(f"relative_std must be >= 0, got {relative_std}")
    rng = np.random.default_rng(rng)
    members = []
    for _ in range(n_members):
        table = {}
        for symbol in elements:
            if symbol not in EMT_PARAMETERS:
                raise ValueError(
                    f"elements: no EMT parameters for {symbol!r}; "
                    f"known: {', '.join(EMT_PARAMETERS)}"
                )
            base = np.asarray(EMT_PARAMETERS[symbol])
            table[symbol] = base * (1.0 + relative_std * rng.standard_normal(7))
        members.append(PerturbedEMT(table))
    return members


def emt_committee(
    n_members: int,
    elements: Sequence[str],
    *,
    relative_std: float = 0.02,
    rng: np.random.Generator | int | None = None,
) -> Committee:
    """A :class:`Committee` of :func:`perturbed_emt_members` (n_members >= 2)."""
    return Committee(
        perturbed_emt_members(n_members, elements, relative_std=relative_std, rng=rng)
    )
