"""Dimer saddle searches with ASE's min-mode following.

The dimer method of Henkelman & Jónsson, J. Chem. Phys. 111, 7010 (1999), as
ASE implements it (``ase.mep.dimer``: ``DimerControl``, ``MinModeAtoms``,
``MinModeTranslate``). Two ASE pitfalls are closed here (docs/method.md §10):
``DimerControl.parameters`` is a class-level dict that ``set_parameter``
mutates, so each search gets its own copy and every parameter is passed
explicitly; and ``MinModeAtoms`` seeds from the clock unless given a seed, so
the seed is drawn from the evolver's ``rng``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from ase import Atoms
from ase.mep.dimer import DimerControl, MinModeAtoms, MinModeTranslate

from hyperal.evolve.base import (
    Evolver,
    ParameterError,
    Session,
    check_positive,
    current_results,
)


class IsolatedDimerControl(DimerControl):
    """``DimerControl`` whose parameters live on the instance: ``set_parameter``
    on one search never changes the defaults of the next."""

    def __init__(self, **kwargs):
        self.parameters = dict(DimerControl.parameters)
        super().__init__(logfile=None, eigenmode_logfile=None, **kwargs)


class _CentreRecordingMinModeAtoms(MinModeAtoms):
    """Keeps the calculator results of the dimer centre: the rotation leaves
    the calculator at an image, and recording must not pay another call."""

    centre_results: Mapping[str, Any] | None = None
    centre_positions: np.ndarray | None = None

    def calculate_real_forces_and_energies(self, **kwargs):
        super().calculate_real_forces_and_energies(**kwargs)
        self.centre_results = dict(self.atoms.calc.results)
        self.centre_positions = self.atoms.get_positions()


@dataclass(frozen=True, kw_only=True, eq=False)
class DimerEvolver(Evolver):
    """Search a first-order saddle point by min-mode following.

    The search starts from ``mode`` (an (N, 3) direction, e.g. the path tangent
    of a hop started at its midpoint) when given, else from a random Gaussian
    displacement of the start whose direction is the initial mode. With
    ``alpha > 0`` it follows the biased surface U − α·σ_U.

    The parameters not listed here are those of
    :class:`hyperal.evolve.base.Evolver`.

    Parameters
    ----------
    fmax_eV_A : float
        Converged when every force is below this and the curvature is negative.
    mode : array (N, 3) or None
        Initial eigenmode guess; normalised here.
    displacement_std_A : float
        Standard deviation of the random start displacement (Å) when ``mode``
        is None (ASE's ``gauss_std``).
    displacement_center : int, (3,) position or None
        Displace only atoms near this atom index or position (Å) ...
    displacement_radius_A : float or None
        ... within this radius (Å); None with a centre: ASE's nearest-atom rule.
    number_of_displacement_atoms : int or None
        ... or the n atoms nearest the centre.
    dimer_separation_A : float
        Distance between the dimer images (Å). ASE's 1e-4 suits analytic
        potentials only; 0.01 tolerates float32 MLIP noise.
    f_rot_min, f_rot_max, max_num_rot, trial_angle_rad, trial_trans_step_A,
    maximum_translation_A, cg_translation, use_central_forces,
    extrapolate_forces
        The remaining ``DimerControl`` parameters, all passed explicitly.

    Notes
    -----
    Nothing checks that the saddle found connects the start to a neighbouring
    minimum (the barrier workflow does that by relaxing both ways).
    ``info`` gets ``curvature`` (eV/Å²), ``saddle_energy_eV`` and the final
    ``eigenmode`` ((N, 3), unit norm).
    """

    fmax_eV_A: float = 0.05
    mode: np.ndarray | None = None
    displacement_std_A: float = 0.1
    displacement_center: int | np.ndarray | None = None
    displacement_radius_A: float | None = None
    number_of_displacement_atoms: int | None = None
    dimer_separation_A: float = 0.01
    f_rot_min: float = 0.1
    f_rot_max: float = 1.0
    max_num_rot: int = 1
    trial_angle_rad: float = math.pi / 4
    trial_trans_step_A: float = 0.001
    maximum_translation_A: float = 0.1
    cg_translation: bool = True
    use_central_forces: bool = True
    extrapolate_forces: bool = False

    name: ClassVar[str] = "dimer"
    reports_convergence: ClassVar[bool] = True

    def __post_init__(self):
        super().__post_init__()
        check_positive("fmax_eV_A", self.fmax_eV_A)
        check_positive("displacement_std_A", self.displacement_std_A)
        check_positive("dimer_separation_A", self.dimer_separation_A)
        check_positive("trial_trans_step_A", self.trial_trans_step_A)
        check_positive("maximum_translation_A", self.maximum_translation_A)
        centre = self.displacement_center
        if centre is not None:
            # ASE accepts only a Python int or a tuple of three Python floats
            if np.ndim(centre) == 0 and float(centre) == int(centre):
                centre = int(centre)
            elif np.shape(centre) == (3,):
                centre = tuple(float(x) for x in centre)
            else:
                raise ParameterError(
                    "displacement_center",
                    f"must be an atom index or a position (3 numbers), got {centre!r}",
                )
            object.__setattr__(self, "displacement_center", centre)
            if self.displacement_radius_A is None and (
                self.number_of_displacement_atoms is None
            ):
                raise ParameterError(
                    "displacement_center",
                    "needs displacement_radius_A or number_of_displacement_atoms",
                )
        if self.mode is not None:
            mode = np.asarray(self.mode, dtype=float)
            norm = np.linalg.norm(mode)
            if (
                mode.ndim != 2
                or mode.shape[1] != 3
                or not np.isfinite(norm)
                or (norm == 0)
            ):
                raise ValueError("mode must be a finite, non-zero (N, 3) array")
            object.__setattr__(self, "mode", mode / norm)

    def _check(self, atoms: Atoms) -> None:
        if self.mode is not None and self.mode.shape != (len(atoms), 3):
            raise ValueError(
                f"mode has shape {self.mode.shape}, atoms need ({len(atoms)}, 3)"
            )

    def control(self) -> IsolatedDimerControl:
        """A fresh ``DimerControl`` carrying every parameter of this evolver."""
        return IsolatedDimerControl(
            eigenmode_method="dimer",
            f_rot_min=self.f_rot_min,
            f_rot_max=self.f_rot_max,
            max_num_rot=self.max_num_rot,
            trial_angle=self.trial_angle_rad,
            trial_trans_step=self.trial_trans_step_A,
            maximum_translation=self.maximum_translation_A,
            cg_translation=self.cg_translation,
            use_central_forces=self.use_central_forces,
            dimer_separation=self.dimer_separation_A,
            initial_eigenmode_method="displacement",
            extrapolate_forces=self.extrapolate_forces,
            displacement_method="gauss",
            gauss_std=self.displacement_std_A,
            order=1,
            mask=None,
            displacement_center=self.displacement_center,
            displacement_radius=self.displacement_radius_A,
            number_of_displacement_atoms=self.number_of_displacement_atoms,
        )

    def _start(
        self, atoms: Atoms, steps: int, rng: np.random.Generator, info: dict
    ) -> Session:
        seed = int(rng.integers(2**31 - 1))
        eigenmodes = None if self.mode is None else [self.mode.copy()]
        dimer = _CentreRecordingMinModeAtoms(
            atoms, self.control(), eigenmodes=eigenmodes, random_seed=seed
        )
        if self.mode is None:  # an explicit all-True mask: no "all atoms" warning
            dimer.displace(mask=[True] * len(atoms), log=False)
        info.update(dimer_seed=seed)

        def results(atoms: Atoms) -> Mapping[str, Any]:
            if dimer.centre_results is not None and np.array_equal(
                dimer.centre_positions, atoms.positions
            ):
                return dimer.centre_results
            return current_results(atoms)

        def finish(info: dict) -> None:
            info.update(
                curvature=float(dimer.get_curvature()),
                saddle_energy_eV=float(dimer.get_potential_energy()),
                eigenmode=np.array(dimer.get_eigenmode(), dtype=float),
            )

        steps_iter = MinModeTranslate(dimer, logfile=None).irun(
            fmax=self.fmax_eV_A, steps=steps
        )
        return Session(steps_iter, results=results, finish=finish)
