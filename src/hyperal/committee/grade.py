"""The extrapolation grade γ: a single-model alternative to the committee's σ.

D-optimality, as in moment tensor potentials (Podryabinkin & Shapeev, Comput.
Mater. Sci. 140, 171 (2017)) and pacemaker's ACE (Lysogorskiy et al., npj
Comput. Mater. 9, 25 (2023)): per element, the training set's per-atom feature
vectors are reduced to an *active set* of F rows spanning the largest volume
(MaxVol: Goreinov et al., in Matrix Methods: Theory, Algorithms and
Applications (2010)); an atom's grade is max |c| of its coordinates c in that
basis, x = c·A_active. γ ≤ 1 interpolates the training data, γ > 1
extrapolates; a structure's grade is the largest of its atoms'.

Features come from any backend through
:meth:`~hyperal.models.protocol.CommitteeModel.atomic_features` (one member's
by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from ase import Atoms


def maxvol(matrix: np.ndarray, *, tol: float = 1.01, max_iter: int = 200) -> np.ndarray:
    """Indices of ``F`` rows of an (n, F) matrix (n >= F) whose square
    submatrix has a locally maximal |det|: no other row has a coordinate above
    ``tol`` in their basis. Starts from a pivoted QR of the transpose."""
    a = np.asarray(matrix, dtype=float)
    n, f = a.shape
    if n < f:
        raise ValueError(
            f"maxvol needs at least as many rows as columns, got {a.shape}"
        )
    _, _, pivots = scipy.linalg.qr(a.T, pivoting=True, mode="economic")
    rows = np.array(pivots[:f])
    for _ in range(max_iter):
        coords = a @ np.linalg.pinv(a[rows])  # (n, F)
        i, j = np.unravel_index(np.argmax(np.abs(coords)), coords.shape)
        if abs(coords[i, j]) <= tol:
            break
        rows[j] = i
    return rows


@dataclass(frozen=True)
class ExtrapolationGrade:
    """Active sets per element, from training structures' atomic features.

    Build with :meth:`from_training`; :meth:`atoms` gives per-atom γ,
    :meth:`structure` the largest.
    """

    basis: dict[str, np.ndarray]  # element -> pinv of its active set, (F, k)
    member: int = 0

    @classmethod
    def from_training(
        cls, model, frames: Sequence[Atoms], *, member: int = 0
    ) -> ExtrapolationGrade:
        """Active sets of ``model``'s atomic features (member ``member``) over
        the training ``frames``. An element with fewer atoms than features
        keeps all its atoms (its grade is then a least-squares coordinate)."""
        rows: dict[str, list[np.ndarray]] = {}
        for atoms in frames:
            features = model.atomic_features(atoms)[member]
            for symbol, x in zip(atoms.get_chemical_symbols(), features, strict=True):
                rows.setdefault(symbol, []).append(x)
        basis = {}
        for symbol, xs in rows.items():
            a = np.asarray(xs)
            active = a[maxvol(a)] if len(a) >= a.shape[1] else a
            basis[symbol] = np.linalg.pinv(active)
        return cls(basis=basis, member=member)

    def atoms(self, model, atoms: Atoms) -> np.ndarray:
        """Per-atom γ of ``atoms`` (N,); ``inf`` for an element never trained."""
        features = model.atomic_features(atoms)[self.member]
        grades = np.full(len(atoms), np.inf)
        for k, symbol in enumerate(atoms.get_chemical_symbols()):
            if symbol in self.basis:
                grades[k] = np.abs(features[k] @ self.basis[symbol]).max()
        return grades

    def structure(self, model, atoms: Atoms) -> float:
        """The structure's γ: the largest of its atoms'."""
        return float(self.atoms(model, atoms).max())
