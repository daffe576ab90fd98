"""The model-backend protocol: what hyperal needs of an MLIP, and nothing else.

A *backend* (:class:`Backend`, registered by name in
:data:`hyperal.models.BACKENDS`) turns typed options into a
:class:`CommitteeModel`: M members that fit together, save to and load from a
checkpoint directory, and evaluate through one ASE calculator whose
``results`` carry the committee keys of :mod:`hyperal.committee.results`
(``energy``, ``forces``, ``member_energies``, ``member_forces``,
``energy_uncertainty``, ``energy_uncertainty_gradient``, stress where offered).
The adversarial bias, the evolvers, frame selection and the metrics read only
those keys, so any backend that passes
:func:`hyperal.testing.check_backend` works everywhere in hyperal.

The shape follows ASE's Calculator contract (results in a dict with fixed
names and units) and torch-sim's ``ModelInterface`` (a small interface plus a
conformance check every model must pass).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pydantic import BaseModel


@dataclass(frozen=True, kw_only=True)
class FitReport:
    """What one committee fit did (stored in its checkpoint and the metrics).

    Attributes
    ----------
    backend : str
    n_train, n_validation : int
        Structures fitted and held out for early stopping.
    epochs : int
        Epochs run (per member, the longest).
    wall_s : float
        Wall time of the fit (s).
    validation_energy_rmse_meV_atom, validation_force_rmse_meV_A : float
        Committee-mean errors on the held-out structures (NaN without any).
    warm_started : bool
        The fit continued from a previous committee's weights.
    """

    backend: str
    n_train: int
    n_validation: int
    epochs: int
    wall_s: float
    validation_energy_rmse_meV_atom: float
    validation_force_rmse_meV_A: float
    warm_started: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (NaN as None)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitReport:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for key in ("validation_energy_rmse_meV_atom", "validation_force_rmse_meV_A"):
            if values.get(key) is None:
                values[key] = math.nan
        return cls(**values)


@dataclass(frozen=True)
class Prediction:
    """Committee prediction for one structure: energy (eV), forces (N, 3,
    eV/Å), σ_U (eV; 0 for a one-member model) and, when the model gives
    it, the per-atom force disagreement (N,) eV/Å."""

    energy: float
    forces: np.ndarray
    sigma: float
    forces_sigma: np.ndarray | None = None


@runtime_checkable
class CommitteeModel(Protocol):
    """M committee members of one backend, fitted or freshly built.

    Implementations: :class:`hyperal.models.bpnn.backend.BPNNCommittee`,
    :class:`hyperal.models.mace.MACECommittee`.
    """

    backend: ClassVar[str]

    @property
    def elements(self) -> tuple[str, ...]:
        """Chemical symbols the model handles."""
        ...

    @property
    def n_members(self) -> int:
        """Committee size M."""
        ...

    def fit(
        self,
        frames: Sequence[Atoms],
        options: Any,
        *,
        init: CommitteeModel | None = None,
        seed: int = 0,
    ) -> FitReport:
        """Fit every member to the frames' reference labels (see
        :mod:`hyperal.labels`) with the backend's typed fit ``options``.
        With ``init`` (a committee of the same backend and architecture) the
        fit continues from its weights (warm start) instead of this model's
        own initial weights."""
        ...

    def save(self, directory: Path) -> None:
        """Write every file of the model into the existing, empty
        ``directory`` (the checkpoint module adds the manifest)."""
        ...

    def calculator(self) -> Calculator:
        """An ASE calculator with the committee keys."""
        ...

    def atomic_features(self, atoms: Atoms) -> np.ndarray:
        """Per-member, per-atom feature vectors, shape (M, N, F), float64:
        the input of descriptor analyses and of the extrapolation grade."""
        ...


@dataclass(frozen=True)
class Backend:
    """A registered backend: its typed options and, by import path, the
    :class:`CommitteeModel` class (imported on first use, so an optional
    backend's packages are only needed when it is used).

    The model class offers ``build(elements, options, *, seed)`` and
    ``load(directory, options, *, device=None)`` class methods.
    """

    name: str
    options: type[BaseModel]
    target: str  # "package.module:Class"
    #: the options field that holds the committee's floating-point precision
    #: ("float32" or "float64"; a backend without one computes in float64)
    dtype_field: str = "dtype"

    def dtype(self, options: BaseModel | dict[str, Any] | None) -> np.dtype:
        """The floating-point type the committee computes in under
        ``options`` — what its conformance tolerances follow."""
        return np.dtype(
            getattr(self.parse_options(options), self.dtype_field, "float64")
        )

    def model_class(self) -> type:
        module, _, attribute = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except ImportError as exc:
            raise ImportError(
                f"backend {self.name!r} needs packages that are not installed "
                f"({exc}); install hyperal[{self.name}]"
            ) from exc

    def parse_options(self, options: BaseModel | dict[str, Any] | None) -> BaseModel:
        """Typed options from a model, a dict or None (the defaults)."""
        if isinstance(options, self.options):
            return options
        data = dict(options or {})
        data.setdefault("backend", self.name)
        return self.options.model_validate(data)

    def build(
        self,
        elements: Sequence[str],
        options: BaseModel | dict[str, Any] | None = None,
        *,
        seed: int = 0,
    ) -> CommitteeModel:
        """A new, unfitted committee for ``elements``."""
        return self.model_class().build(
            tuple(elements), self.parse_options(options), seed=seed
        )

    def load(
        self,
        directory: str | Path,
        options: BaseModel | dict[str, Any],
        *,
        device: str | None = None,
    ) -> CommitteeModel:
        """The committee saved in ``directory`` (use
        :func:`hyperal.models.checkpoint.load_checkpoint` for a checkpoint
        with its manifest)."""
        return self.model_class().load(
            Path(directory), self.parse_options(options), device=device
        )


def predict(model: CommitteeModel, images: Sequence[Atoms]) -> list[Prediction]:
    """The committee's energy, forces and σ_U for each structure (the inputs
    are not changed)."""
    calc = model.calculator()
    per_atom = "forces_uncertainty" in getattr(calc, "implemented_properties", ())
    out = []
    for atoms in images:
        probe = atoms.copy()
        probe.calc = calc
        forces_sigma = None
        if per_atom:  # asked first: one calculation gives it, energy and forces
            forces_sigma = np.array(calc.get_property("forces_uncertainty", probe))
        energy = probe.get_potential_energy()
        forces = probe.get_forces().copy()
        sigma = float(calc.results.get("energy_uncertainty", 0.0))
        out.append(Prediction(energy, forces, sigma, forces_sigma))
    return out
