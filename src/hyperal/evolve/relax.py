"""Relaxation to a (biased) minimum with ASE's FIRE or BFGS, optionally with the
cell (``FrechetCellFilter``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from ase import Atoms
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE
from ase.units import GPa

from hyperal.evolve.base import Evolver, Session, check_positive
from hyperal.utils import ParameterError

OPTIMIZERS = {"fire": FIRE, "bfgs": BFGS}


@dataclass(frozen=True, kw_only=True, eq=False)
class RelaxEvolver(Evolver):
    """Minimise U (or U − α·σ_U with ``alpha > 0``) until every force is below
    ``fmax_eV_A``.

    The parameters not listed here are those of
    :class:`hyperal.evolve.base.Evolver`.

    Parameters
    ----------
    optimizer : {"fire", "bfgs"}
        ASE optimizer.
    fmax_eV_A : float
        Convergence threshold on the largest (biased) force (eV/Å); with
        ``relax_cell`` it applies to the filter's generalised forces.
    maxstep_A : float
        Largest atomic displacement per optimizer step (Å).
    relax_cell : bool
        Relax the cell too (``ase.filters.FrechetCellFilter``); needs a
        calculator with stress.
    scalar_pressure_GPa : float
        External pressure for the cell relaxation (GPa).
    """

    optimizer: Literal["fire", "bfgs"] = "fire"
    fmax_eV_A: float = 0.05
    maxstep_A: float = 0.2
    relax_cell: bool = False
    scalar_pressure_GPa: float = 0.0

    name: ClassVar[str] = "relax"
    reports_convergence: ClassVar[bool] = True

    def __post_init__(self):
        super().__post_init__()
        if self.optimizer not in OPTIMIZERS:
            raise ParameterError(
                "optimizer",
                f"must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}",
            )
        check_positive("fmax_eV_A", self.fmax_eV_A)
        check_positive("maxstep_A", self.maxstep_A)

    def _check(self, atoms: Atoms) -> None:
        if self.relax_cell and not np.all(atoms.pbc):
            raise ParameterError("relax_cell", "needs a periodic cell (pbc all True)")

    def _start(
        self, atoms: Atoms, steps: int, rng: np.random.Generator, info: dict
    ) -> Session:
        target = atoms
        if self.relax_cell:
            target = FrechetCellFilter(
                atoms, scalar_pressure=self.scalar_pressure_GPa * GPa
            )
        info.update(optimizer=self.optimizer, fmax_eV_A=self.fmax_eV_A)
        optimizer = OPTIMIZERS[self.optimizer](
            target, logfile=None, maxstep=self.maxstep_A
        )
        return Session(optimizer.irun(fmax=self.fmax_eV_A, steps=steps))
