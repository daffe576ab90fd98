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
by default). The active sets grow with the data (:meth:`ExtrapolationGrade.update`)
and are saved beside a checkpoint (:meth:`~ExtrapolationGrade.save`).

Tail sampling (:func:`select_tail`, docs/method.md §7): ln γ of random
candidates is roughly Gaussian; its *tail* is ln γ above median(ln γ) + 1.5·s,
s the root-mean-square deviation of ln γ from its median. Candidates are drawn
until ``n`` lie in the tail, which is split 80/20 into training and test
structures. The committee's σ_U works as the score just as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.linalg
from ase import Atoms

from hyperal.utils import as_rng


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
    active: dict[str, np.ndarray] | None = None  # element -> active rows (k, F)

    FILE = "grade.npz"

    @classmethod
    def from_active(cls, active: dict[str, np.ndarray], member: int = 0):
        return cls(
            basis={s: np.linalg.pinv(a) for s, a in active.items()},
            member=member,
            active={s: np.asarray(a, dtype=float) for s, a in active.items()},
        )

    @classmethod
    def from_training(
        cls, model, frames: Sequence[Atoms], *, member: int = 0
    ) -> ExtrapolationGrade:
        """Active sets of ``model``'s atomic features (member ``member``) over
        the training ``frames``. An element with fewer atoms than features
        keeps all its atoms (its grade is then a least-squares coordinate)."""
        return cls._from_rows(_feature_rows(model, frames, member), member)

    @classmethod
    def _from_rows(cls, rows: dict[str, list], member: int) -> ExtrapolationGrade:
        active = {}
        for symbol, xs in rows.items():
            a = np.asarray(xs, dtype=float)
            active[symbol] = a[maxvol(a)] if len(a) >= a.shape[1] else a
        return cls.from_active(active, member)

    def update(self, model, frames: Sequence[Atoms]) -> ExtrapolationGrade:
        """The active sets after adding ``frames`` (MaxVol over the current
        active rows and the new atoms' features): what a grade becomes when
        training data arrives, without the old training set."""
        if self.active is None:
            raise ValueError("this grade holds no active rows to update")
        rows = {s: list(a) for s, a in self.active.items()}
        for symbol, xs in _feature_rows(model, frames, self.member).items():
            rows.setdefault(symbol, []).extend(xs)
        return self._from_rows(rows, self.member)

    def save(self, directory: str | Path) -> Path:
        """Write the active sets to ``directory/grade.npz``."""
        if self.active is None:
            raise ValueError("this grade holds no active rows to save")
        path = Path(directory) / self.FILE
        np.savez(
            path,
            member=self.member,
            **{f"active_{s}": a for s, a in self.active.items()},
        )
        return path

    @classmethod
    def load(cls, directory: str | Path) -> ExtrapolationGrade:
        """The grade saved in ``directory`` (:meth:`save`)."""
        with np.load(Path(directory) / cls.FILE, allow_pickle=False) as data:
            active = {
                key.removeprefix("active_"): data[key]
                for key in data.files
                if key.startswith("active_")
            }
            return cls.from_active(active, int(data["member"]))

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


def _feature_rows(model, frames: Sequence[Atoms], member: int) -> dict[str, list]:
    rows: dict[str, list] = {}
    for atoms in frames:
        features = model.atomic_features(atoms)[member]
        for symbol, x in zip(atoms.get_chemical_symbols(), features, strict=True):
            rows.setdefault(symbol, []).append(x)
    return rows


def tail_threshold(scores: Sequence[float]) -> float:
    """ln-score above which a candidate is in the tail: median(ln x) +
    1.5·s, s the root-mean-square deviation of ln x from its median."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError("scores must be finite and > 0")
    logs = np.log(values)
    median = float(np.median(logs))
    return median + 1.5 * float(np.sqrt(np.mean((logs - median) ** 2)))


@dataclass(frozen=True)
class TailSelection:
    """What :func:`select_tail` found: the tail split into training and test
    structures, and the figures behind it."""

    train: list[Atoms]
    test: list[Atoms]
    threshold: float  # of ln(score)
    drawn: int  # candidates scored
    scores: np.ndarray  # every candidate's score, in draw order
    #: False when ``max_drawn`` candidates held fewer than ``n`` in the tail
    #: and ``short_tail="top"`` took the highest scores instead
    complete: bool = True


def select_tail(
    candidates: Iterable[Atoms],
    score: Callable[[Atoms], float],
    n: int,
    *,
    test_fraction: float = 0.2,
    min_drawn: int = 50,
    max_drawn: int = 100_000,
    short_tail: Literal["raise", "top"] = "raise",
    rng=None,
) -> TailSelection:
    """Draw ``candidates`` (an iterator, e.g. random hop structures) and
    score each (γ: ``lambda a: grade.structure(model, a)``; or the committee's
    σ_U) until ``n`` of them lie in the tail of all scored so far (after at
    least ``min_drawn``, so the threshold is not set by a handful); the tail
    is then split ``test_fraction`` / rest into test and training structures
    at random. When ``max_drawn`` candidates do not give ``n`` in the tail
    (a score whose ln is far from Gaussian), ``short_tail="raise"`` raises
    and ``"top"`` takes the ``n`` highest scores (``complete=False``)."""

    if int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    drawn: list[Atoms] = []
    scores: list[float] = []
    tail: np.ndarray = np.array([], dtype=int)
    threshold = np.inf
    for atoms in candidates:
        drawn.append(atoms)
        scores.append(float(score(atoms)))
        if len(drawn) >= min_drawn:
            threshold = tail_threshold(scores)
            tail = np.flatnonzero(np.log(scores) > threshold)
            if len(tail) >= n:
                break
        if len(drawn) >= max_drawn:
            break
    complete = len(tail) >= n
    if not complete:
        if short_tail != "top" or len(drawn) < n:
            raise ValueError(
                f"only {len(tail)} of {len(drawn)} candidates lie in the tail; "
                f"{n} were asked for"
            )
        tail = np.arange(len(drawn))  # the n highest scores, below
    rng = as_rng(rng)
    chosen = rng.permutation(tail[np.argsort(-np.asarray(scores)[tail])[:n]])
    n_test = int(round(test_fraction * n))
    return TailSelection(
        train=[drawn[i] for i in chosen[n_test:]],
        test=[drawn[i] for i in chosen[:n_test]],
        threshold=float(threshold),
        drawn=len(drawn),
        scores=np.asarray(scores),
        complete=complete,
    )
