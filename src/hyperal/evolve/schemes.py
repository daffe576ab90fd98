"""The scheme registry: names (as in campaign YAML) -> configured evolvers.

docs/method.md §3 / §4: each evolution scheme with and without adversarial bias. The
biased twins differ only in their bias parameter: ``alpha`` (the biased
surface U − α·σ_U) for MD, relaxation and dimer, ``gamma`` (the steered
tangent) for contour exploration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator

from hyperal.evolve.base import Evolver
from hyperal.evolve.contour import ContourEvolver
from hyperal.evolve.dimer import DimerEvolver
from hyperal.evolve.md import MDEvolver
from hyperal.evolve.relax import RelaxEvolver
from hyperal.utils import ParameterError, type_problems


@dataclass(frozen=True)
class Scheme:
    """A registered evolution scheme.

    Attributes
    ----------
    name : str
        Registry name.
    evolver : type
        The :class:`Evolver` subclass it configures.
    bias_parameter : str
        ``alpha`` or ``gamma``: the parameter that makes the scheme adversarial.
    biased : bool
        Whether the scheme is the adversarially biased twin (bias parameter > 0)
        or the plain one (bias parameter 0).
    defaults : mapping
        Parameters applied before the user's.
    description : str
        One line for ``--help`` and error messages.
    """

    name: str
    evolver: type[Evolver]
    bias_parameter: str
    biased: bool
    defaults: Mapping[str, Any]
    description: str

    @property
    def parameters(self) -> tuple[str, ...]:
        """Names a campaign may set for this scheme."""
        return tuple(
            f.name
            for f in dataclasses.fields(self.evolver)
            if f.init and f.name not in ("calculator", "rng")
        )


def _pair(name, evolver, bias_parameter, bias_default, description):
    plain = Scheme(name, evolver, bias_parameter, False, {}, description)
    biased = Scheme(
        f"advb_{name}",
        evolver,
        bias_parameter,
        True,
        {bias_parameter: bias_default},
        f"{description}, adversarially biased ({bias_parameter} > 0)",
    )
    return {plain.name: plain, biased.name: biased}


SCHEMES: dict[str, Scheme] = {
    **_pair("md", MDEvolver, "alpha", 1.0, "Langevin NVT / NVE molecular dynamics"),
    **_pair("relax", RelaxEvolver, "alpha", 1.0, "FIRE / BFGS relaxation"),
    **_pair("ce", ContourEvolver, "gamma", 0.5, "contour exploration"),
    **_pair("dimer", DimerEvolver, "alpha", 1.0, "dimer saddle search"),
}
"""Every scheme by name."""


def make_evolver(
    scheme: str,
    calculator: Calculator,
    params: Mapping[str, Any] | None = None,
    *,
    rng: np.random.Generator | int | None = None,
) -> Evolver:
    """Configure the evolver of ``scheme`` from a plain dict of parameters.

    Raises ValueError naming the offending key for an unknown scheme, an
    unknown parameter, or a bias parameter that contradicts the scheme (a
    plain scheme with bias, a biased one without).
    """
    if scheme not in SCHEMES:
        raise ValueError(
            f"scheme: unknown scheme {scheme!r}; known: {', '.join(SCHEMES)}"
        )
    spec = SCHEMES[scheme]
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.parameters))
    if unknown:
        raise ValueError(
            f"scheme {scheme!r}: unknown parameter(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(spec.parameters)}"
        )
    wrong = type_problems(spec.evolver, params)
    if wrong:
        raise ValueError(f"scheme {scheme!r}: {'; '.join(wrong)}")
    kwargs = {**spec.defaults, **params}
    key = spec.bias_parameter
    bias = kwargs.get(key, 0.0)
    if bias == "auto" and spec.biased:  # adaptive α (MD, relaxation, dimer)
        return spec.evolver(calculator=calculator, rng=rng, **kwargs)
    where = f"scheme {scheme!r}: "
    if isinstance(bias, str):
        raise ParameterError(
            key,
            "must be a number"
            + (" or 'auto'" if key == "alpha" and spec.biased else "")
            + f", got {bias!r}",
            where=where,
        )
    bias = float(bias)
    if spec.biased and not bias > 0:
        raise ParameterError(
            key,
            f"must be > 0 (got {bias}); "
            f"use {scheme.removeprefix('advb_')!r} for the unbiased scheme",
            where=where,
        )
    if not spec.biased and bias != 0:
        raise ParameterError(
            key,
            f"must be 0 (got {bias}); "
            f"use 'advb_{scheme}' for the adversarially biased scheme",
            where=where,
        )
    if kwargs.get("mode") is not None:
        kwargs["mode"] = np.asarray(kwargs["mode"], dtype=float)
    try:
        return spec.evolver(calculator=calculator, rng=rng, **kwargs)
    except TypeError as exc:  # a wrongly typed value reaching the dataclass
        raise ValueError(f"scheme {scheme!r}: {exc}") from exc
