"""Contour exploration (CE) with an optionally steered tangent.

CE is the potentiostatic kinematics of Waters & Rondinelli, J. Phys.: Condens.
Matter 33, 445901 (2021), shipped in ASE as
``ase.md.contour_exploration.ContourExploration``: the potential energy is held
at a target while the structure moves along the contour tangent T ⟂ F. The
adversarial variant (docs/method.md §3) steers the tangent toward where the committee
disagrees,

    T_bias = γ·unit(∇σ_U⟂) + (1 − γ)·T,   ∇σ_U⟂ = ∇σ_U − (∇σ_U·N) N,  N = F/|F|,

by setting the velocities to T_bias before ASE's step: ASE rebuilds its tangent
from the velocities at every step (docs/method.md §10). γ = 0 is ASE's CE
unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from ase import Atoms
from ase.md.contour_exploration import (
    ContourExploration,
    normalize,
    subtract_projection,
)
from ase.optimize import FIRE

from hyperal.evolve.base import Evolver, Session, check_positive
from hyperal.utils import ParameterError


def _check_gamma(gamma: float) -> None:
    if not (math.isfinite(gamma) and 0.0 <= gamma <= 1.0):
        raise ParameterError("gamma", f"must be a number in [0, 1], got {gamma}")


class SteeredContourExploration(ContourExploration):
    """ASE's ``ContourExploration`` whose tangent is steered toward ∇σ_U⟂.

    The parameters not listed here are those of
    :class:`hyperal.evolve.base.Evolver`.

    Parameters
    ----------
    atoms : Atoms
        With a committee-like calculator offering
        ``energy_uncertainty_gradient`` when ``gamma > 0``.
    gamma : float
        Steering weight γ in [0, 1]; 0 reproduces ``ContourExploration``.
    **kwargs
        Passed to ``ContourExploration`` (``use_tangent_curvature`` must stay
        False when steering: the steered tangent is not a curve's tangent).
    """

    def __init__(self, atoms: Atoms, *, gamma: float = 0.0, **kwargs):
        _check_gamma(gamma)
        if gamma > 0 and kwargs.get("use_tangent_curvature", False):
            raise ParameterError(
                "use_tangent_curvature",
                "must be False when gamma > 0: the curvature "
                "must come from the force normals, not the steered tangent",
            )
        super().__init__(atoms, **kwargs)
        self.gamma = gamma

    def step(self, f=None):
        if self.gamma > 0:
            if f is None:
                f = self._actual_atoms.get_forces()
            self.steer(f)
        return super().step(f)

    def steer(self, forces: np.ndarray) -> None:
        """Set the velocities to |v|·unit(T_bias) (kinetic energy is a
        bookkeeping constant in CE: ASE rescales the momenta back to it)."""
        atoms = self._actual_atoms
        grad = atoms.calc.get_property("energy_uncertainty_gradient", atoms)
        normal = normalize(forces)
        drive = subtract_projection(grad, normal)
        drive_norm = np.linalg.norm(drive)
        velocities = atoms.get_velocities()
        speed = np.linalg.norm(velocities)
        if not (np.isfinite(drive_norm) and drive_norm > 0 and speed > 0):
            return  # nothing to steer toward: keep ASE's tangent
        tangent = normalize(subtract_projection(velocities, normal))
        steered = self.gamma * drive / drive_norm + (1.0 - self.gamma) * tangent
        atoms.set_velocities(speed * normalize(steered))


@dataclass(frozen=True, kw_only=True, eq=False)
class ContourEvolver(Evolver):
    """Contour exploration at a target energy, the tangent steered by ``gamma``.

    The bias of CE is the steering (docs/method.md §3), so ``alpha`` must stay 0.

    Parameters
    ----------
    gamma : float
        Tangent steering weight γ in [0, 1] (0: ASE's CE). γ > 0 needs a
        committee-like calculator (``energy_uncertainty_gradient``).
    energy_above_meV_atom : float
        Target = reference energy + this × N (meV/atom). The reference
        setting is 164 meV/atom above the relaxed energy of fcc Al (EMT), 5 %
        of its cohesive energy.
    reference : {"relaxed", "start"}
        Reference energy: the start relaxed at fixed cell with FIRE (to
        ``reference_fmax_eV_A``) on the calculator, or the start's own energy.
    energy_target_eV : float or None
        Absolute target (total energy, eV); overrides the two above.
    maxstep_per_atom_A : float
        Largest step per atom (Å). ASE's ``maxstep`` bounds the norm of the
        whole 3N step; it is set to ``maxstep_per_atom_A·sqrt(N)``.
    parallel_drift, angle_limit_deg, potentiostat_step_scale,
    remove_translation, use_target_shift, target_shift_previous_steps,
    initialization_step_scale
        As ``ContourExploration`` (angle in degrees).
    start_rattle_A : float
        CE needs a non-zero force to define the contour normal: a start whose
        largest force is below 1e-4 eV/Å (a perfect lattice) is first rattled
        with this Gaussian standard deviation (Å).
    reference_fmax_eV_A, reference_steps
        Convergence of the reference relaxation.
    """

    gamma: float = 0.0
    energy_above_meV_atom: float = 164.0
    reference: Literal["relaxed", "start"] = "relaxed"
    energy_target_eV: float | None = None
    maxstep_per_atom_A: float = 0.05
    parallel_drift: float = 0.1
    angle_limit_deg: float | None = 20.0
    potentiostat_step_scale: float | None = None
    remove_translation: bool = False
    use_target_shift: bool = True
    target_shift_previous_steps: int = 10
    initialization_step_scale: float = 1e-2
    start_rattle_A: float = 0.02
    reference_fmax_eV_A: float = 0.01
    reference_steps: int = 1000

    name: ClassVar[str] = "ce"

    def __post_init__(self):
        super().__post_init__()
        if self.alpha != 0:
            raise ParameterError(
                "alpha",
                "must be 0 for contour exploration: CE is biased by steering "
                "its tangent (gamma), not by the energy",
            )
        _check_gamma(self.gamma)
        if self.reference not in ("relaxed", "start"):
            raise ParameterError(
                "reference", f"must be 'relaxed' or 'start', got {self.reference!r}"
            )
        if not math.isfinite(self.energy_above_meV_atom):
            raise ParameterError("energy_above_meV_atom", "must be finite")
        check_positive("maxstep_per_atom_A", self.maxstep_per_atom_A)
        check_positive("start_rattle_A", self.start_rattle_A, strict=False)
        check_positive("reference_fmax_eV_A", self.reference_fmax_eV_A)
        if not 0 <= self.parallel_drift < 1:
            raise ParameterError(
                "parallel_drift", f"must be in [0, 1), got {self.parallel_drift}"
            )

    def _check(self, atoms: Atoms) -> None:
        if self.gamma > 0 and "energy_uncertainty_gradient" not in getattr(
            self.calculator, "implemented_properties", ()
        ):
            raise ParameterError(
                "gamma",
                f"> 0 steers toward ∇σ_U: the calculator "
                f"({type(self.calculator).__name__}) offers no "
                "energy_uncertainty_gradient; use a committee",
            )

    def reference_energy(self, atoms: Atoms) -> float:
        """The reference energy (eV) of ``atoms`` under ``self.reference``."""
        probe = atoms.copy()
        probe.calc = self.calculator
        if self.reference == "relaxed":
            FIRE(probe, logfile=None).run(
                fmax=self.reference_fmax_eV_A, steps=self.reference_steps
            )
        return float(probe.get_potential_energy())

    def _start(
        self, atoms: Atoms, steps: int, rng: np.random.Generator, info: dict
    ) -> Session:
        n = len(atoms)
        if self.energy_target_eV is None:
            reference = self.reference_energy(atoms)
            target = reference + 1e-3 * self.energy_above_meV_atom * n
            info.update(reference_energy_eV=reference)
        else:
            target = float(self.energy_target_eV)
        if np.abs(atoms.get_forces()).max() < 1e-4 and self.start_rattle_A > 0:
            atoms.positions += rng.normal(scale=self.start_rattle_A, size=(n, 3))
            info["start_rattle_A"] = self.start_rattle_A
        maxstep = self.maxstep_per_atom_A * math.sqrt(n)
        info.update(energy_target_eV=target, maxstep_A=maxstep, gamma=self.gamma)
        dynamics = SteeredContourExploration(
            atoms,
            gamma=self.gamma,
            maxstep=maxstep,
            parallel_drift=self.parallel_drift,
            energy_target=target,
            angle_limit=self.angle_limit_deg,
            potentiostat_step_scale=self.potentiostat_step_scale,
            remove_translation=self.remove_translation,
            use_frenet_serret=True,
            initialization_step_scale=self.initialization_step_scale,
            use_target_shift=self.use_target_shift,
            target_shift_previous_steps=self.target_shift_previous_steps,
            rng=rng,
            logfile=None,
        )
        return Session(dynamics.irun(steps=steps))
