"""Molecular dynamics: Langevin NVT or velocity-Verlet NVE (ASE integrators)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet

from hyperal.evolve.base import Evolver, Session, check_positive
from hyperal.utils import ParameterError


@dataclass(frozen=True, kw_only=True, eq=False)
class MDEvolver(Evolver):
    """Molecular dynamics, optionally on the adversarially biased surface.

    The parameters not listed here are those of
    :class:`hyperal.evolve.base.Evolver`.

    Parameters
    ----------
    ensemble : {"nvt", "nve"}
        Langevin thermostat (``ase.md.langevin.Langevin``) or velocity Verlet.
    temperature_K : float
        Thermostat temperature (K); also the temperature of the initial
        Maxwell–Boltzmann velocities unless ``initial_temperature_K`` is given.
    timestep_fs : float
        Integration time step (fs).
    friction_per_fs : float
        Langevin friction (1/fs); ignored for NVE.
    initial_temperature_K : float or None
        Temperature of the initial velocities (K); None: ``temperature_K``.
    keep_momenta : bool
        Keep the start's momenta when it has any instead of drawing new ones.
    """

    ensemble: Literal["nvt", "nve"] = "nvt"
    temperature_K: float = 300.0
    timestep_fs: float = 1.0
    friction_per_fs: float = 0.01
    initial_temperature_K: float | None = None
    keep_momenta: bool = False

    name: ClassVar[str] = "md"

    def __post_init__(self):
        super().__post_init__()
        if self.ensemble not in ("nvt", "nve"):
            raise ParameterError(
                "ensemble", f"must be 'nvt' or 'nve', got {self.ensemble!r}"
            )
        check_positive("temperature_K", self.temperature_K, strict=False)
        check_positive("timestep_fs", self.timestep_fs)
        check_positive(
            "friction_per_fs", self.friction_per_fs, strict=self.ensemble == "nvt"
        )
        if self.initial_temperature_K is not None:
            check_positive(
                "initial_temperature_K", self.initial_temperature_K, strict=False
            )

    def _start(
        self, atoms: Atoms, steps: int, rng: np.random.Generator, info: dict
    ) -> Session:
        if not (self.keep_momenta and np.any(atoms.get_momenta())):
            t0 = (
                self.temperature_K
                if self.initial_temperature_K is None
                else (self.initial_temperature_K)
            )
            thermalize_momenta(atoms, temperature_K=t0, rng=rng)
        info.update(ensemble=self.ensemble, timestep_fs=self.timestep_fs)
        if self.ensemble == "nve":
            dynamics = VelocityVerlet(atoms, timestep=self.timestep_fs * units.fs)
        else:
            info["temperature_K"] = self.temperature_K
            dynamics = Langevin(
                atoms,
                timestep=self.timestep_fs * units.fs,
                temperature_K=self.temperature_K,
                friction=self.friction_per_fs / units.fs,
                fixcm=False,
                rng=rng,
            )
        return Session(dynamics.irun(steps=steps))
