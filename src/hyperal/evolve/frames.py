"""What an evolution records: each frame (structure, unbiased committee
energy, σ_U, largest force, shortest distance) and the run's result, with a
cheap shortest-distance tracker."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from ase import Atoms

#: How an evolution ended.
Status = Literal["converged", "step_limit", "exploded", "failed"]


#: Shortest distances are searched within this radius (Å); a frame with no pair
#: closer reports ``inf``.
DISTANCE_PROBE_A = 3.0


def shortest_distance(atoms: Atoms, probe_A: float = DISTANCE_PROBE_A) -> float:
    """Shortest interatomic distance (Å, periodic images included), or ``inf``
    when no pair is closer than ``probe_A``; NaN for non-finite positions."""
    return DistanceTracker(probe_A, skin_A=0.0)(atoms)


class DistanceTracker:
    """Shortest interatomic distance along a trajectory, with a Verlet skin.

    The pair list (vesin, cutoff ``probe_A + skin_A``) is rebuilt only when an
    atom has moved more than ``skin_A / 2`` since the last build, or the cell,
    periodicity or atoms changed; in between, only listed pairs are measured.
    No pair closer than ``probe_A`` can be missed: it was within
    ``probe_A + skin_A`` at the last build (Verlet, Phys. Rev. 159, 98 (1967)).
    """

    def __init__(self, probe_A: float = DISTANCE_PROBE_A, skin_A: float = 0.5):
        self.probe = float(probe_A)
        self.skin = float(skin_A)
        self._reference: Atoms | None = None

    def _stale(self, atoms: Atoms) -> bool:
        ref = self._reference
        if ref is None or len(ref) != len(atoms) or self.skin == 0:
            return True
        if not (
            np.array_equal(ref.cell.array, atoms.cell.array)
            and np.array_equal(ref.pbc, atoms.pbc)
            and np.array_equal(ref.numbers, atoms.numbers)
        ):
            return True
        moved = np.einsum("ij,ij->i", *(2 * [atoms.positions - ref.positions]))
        return bool(moved.max() > (0.5 * self.skin) ** 2)

    def __call__(self, atoms: Atoms) -> float:
        # lazy: vesin loads torch (`import hyperal` does not)
        from vesin import NeighborList

        positions = atoms.positions
        if not np.all(np.isfinite(positions)):
            return math.nan
        if self._stale(atoms):
            periodic = bool(np.any(atoms.pbc))
            box = atoms.cell[:] if periodic else np.zeros((3, 3))
            i, j, shifts = NeighborList(
                cutoff=self.probe + self.skin, full_list=False
            ).compute(points=positions, box=box, periodic=periodic, quantities="ijS")
            self._pairs = (i.astype(np.int64), j.astype(np.int64))
            self._offsets = shifts @ box
            self._reference = atoms.copy()
        i, j = self._pairs
        if len(i) == 0:
            return math.inf
        vectors = positions[j] - positions[i] + self._offsets
        shortest = float(np.sqrt(np.einsum("ij,ij->i", vectors, vectors).min()))
        return shortest if shortest < self.probe else math.inf


@dataclass(frozen=True, eq=False)
class Frame:
    """One recorded configuration and the committee's view of it.

    Attributes
    ----------
    step : int
        Dynamics step (0 is the start).
    positions, cell, numbers, pbc
        The configuration (Å).
    energy : float
        Unbiased (committee-mean) potential energy Ē (eV).
    sigma : float
        Committee energy uncertainty σ_U (eV); NaN for a calculator without one.
    max_force : float
        Largest atomic force of the unbiased mean forces, max_i |F̄_i| (eV/Å).
    min_distance : float
        Shortest interatomic distance (Å); ``inf`` if none within 3 Å.
    kinetic_energy : float
        Kinetic energy of the atoms' momenta (eV): MD's; bookkeeping in CE.
    """

    step: int
    positions: np.ndarray
    cell: np.ndarray
    numbers: np.ndarray
    pbc: np.ndarray
    energy: float
    sigma: float
    max_force: float
    min_distance: float
    kinetic_energy: float = 0.0

    @property
    def natoms(self) -> int:
        return len(self.numbers)

    @property
    def sigma_per_atom(self) -> float:
        """σ_U / N (eV/atom), for comparing cells of different size."""
        return self.sigma / self.natoms

    def to_atoms(self) -> Atoms:
        """The frame as Atoms (no calculator), its figures in ``info``."""
        atoms = Atoms(
            numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc
        )
        atoms.info.update(
            step=self.step,
            committee_energy=self.energy,
            energy_uncertainty=self.sigma,
            max_force=self.max_force,
            min_distance=self.min_distance,
        )
        return atoms


@dataclass(eq=False)
class EvolveResult:
    """A recorded trajectory and how it ended.

    Attributes
    ----------
    frames : list of Frame
        Recorded frames, the start first and the final configuration last.
    status : {"converged", "step_limit", "exploded", "failed"}
        ``converged`` (optimizer / dimer reached fmax), ``step_limit``,
        ``exploded`` (non-finite values, huge forces or overlapping atoms) or
        ``failed`` (the calculator or dynamics raised a numerical error).
    reason : str
        A sentence saying why it ended.
    steps : int
        Dynamics steps taken.
    scheme : str
        Name of the evolver that produced it.
    info : dict
        Evolver-specific figures (e.g. the contour energy target, the dimer's
        final curvature).
    """

    frames: list[Frame]
    status: Status
    reason: str
    steps: int
    scheme: str
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    def _column(self, name: str) -> np.ndarray:
        return np.array([getattr(f, name) for f in self.frames], dtype=float)

    @property
    def energies(self) -> np.ndarray:
        """Ē per frame (eV)."""
        return self._column("energy")

    @property
    def sigmas(self) -> np.ndarray:
        """σ_U per frame (eV)."""
        return self._column("sigma")

    @property
    def max_forces(self) -> np.ndarray:
        """max |F̄| per frame (eV/Å)."""
        return self._column("max_force")

    @property
    def min_distances(self) -> np.ndarray:
        """Shortest interatomic distance per frame (Å)."""
        return self._column("min_distance")

    def atoms(self, index: int = -1) -> Atoms:
        """Frame ``index`` as Atoms."""
        return self.frames[index].to_atoms()
