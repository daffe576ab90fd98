"""How diverse is what a sampling source or a scheme explores? (docs/method.md §6)

- :func:`pca`: the principal components of per-atom feature vectors (the
  model backend's :meth:`~hyperal.models.protocol.CommitteeModel.atomic_features`),
  fitted on every source together so the sources share one projection, with
  the explained variance of each component;
- :func:`bond_lengths` and :func:`bond_angles`: every interatomic distance
  within a cut-off, and every angle j–i–k between two neighbours of an atom
  (ASE's neighbour list, minimum image);
- :func:`trajectory_motion`: along a trajectory, the mean displacement of the
  atoms from one recorded frame to the next, and the root-mean-square
  displacement from the start.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.geometry import find_mic
from ase.neighborlist import neighbor_list


def pca(
    features: np.ndarray, components: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Principal components of the rows of ``features`` (n, F): the scores
    (n, components), the explained-variance ratio of each component, the
    mean and the component vectors (components, F) — so that other rows
    project as ``(x - mean) @ vectors.T``. Components beyond the rank are
    zero."""
    x = np.asarray(features, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"pca needs an (n >= 2, F) array, got shape {x.shape}")
    if components < 1:
        raise ValueError(f"components must be >= 1, got {components}")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    # a fixed sign per component: the largest loading positive
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    vt = vt * np.where(signs == 0, 1, signs)[:, None]
    variance = s**2
    total = variance.sum()
    rank = int(np.sum(variance > 1e-12 * total)) if total > 0 else 0
    k = min(components, rank)
    vectors = np.zeros((components, x.shape[1]))
    vectors[:k] = vt[:k]
    ratio = np.zeros(components)
    if total > 0:
        ratio[:k] = variance[:k] / total
    return (x - mean) @ vectors.T, ratio, mean, vectors


def feature_spread(features: np.ndarray) -> float:
    """The total variance of the rows of ``features`` (n, F): their mean
    squared distance from their centroid (the trace of the population
    covariance) — how widely a set of atoms samples the feature space."""
    x = np.asarray(features, dtype=float)
    if len(x) == 0:
        return float("nan")
    return float(np.mean(np.sum((x - x.mean(axis=0)) ** 2, axis=1)))


def atomic_feature_matrix(model, images: Sequence[Atoms]) -> np.ndarray:
    """Every atom's feature vector (rows), averaged over the committee's
    members, for ``images`` in order."""
    rows = [np.asarray(model.atomic_features(atoms)).mean(axis=0) for atoms in images]
    if not rows:
        raise ValueError("no structures to take features of")
    return np.concatenate(rows)


def bond_lengths(atoms: Atoms, cutoff_A: float = 3.5) -> np.ndarray:
    """Every distinct pair distance below ``cutoff_A`` (Å), each pair once."""
    if not cutoff_A > 0:
        raise ValueError(f"cutoff_A must be > 0, got {cutoff_A}")
    i, j, d = neighbor_list("ijd", atoms, cutoff_A)
    return np.sort(d[i < j]) if len(d) else np.zeros(0)


def bond_angles(atoms: Atoms, cutoff_A: float = 3.0) -> np.ndarray:
    """Every angle j–i–k (degrees) between two distinct neighbours j, k of an
    atom i within ``cutoff_A``, each unordered pair of neighbours once."""
    if not cutoff_A > 0:
        raise ValueError(f"cutoff_A must be > 0, got {cutoff_A}")
    i, vectors = neighbor_list("iD", atoms, cutoff_A)
    out = []
    for atom in np.unique(i):
        v = vectors[i == atom]
        if len(v) < 2:
            continue
        unit = v / np.linalg.norm(v, axis=1)[:, None]
        cos = np.clip(unit @ unit.T, -1.0, 1.0)
        upper = np.triu_indices(len(v), k=1)
        out.append(np.degrees(np.arccos(cos[upper])))
    return np.concatenate(out) if out else np.zeros(0)


def trajectory_motion(frames: Sequence[Atoms]) -> tuple[np.ndarray, np.ndarray]:
    """Per recorded step the mean atom displacement from the previous frame
    (Å, len − 1 values) and per frame the RMSD from the first (Å, len
    values), minimum image in the first frame's cell."""
    if len(frames) == 0:
        raise ValueError("a trajectory with no frames")
    first = frames[0]
    cell, pbc = first.cell, first.pbc

    def delta(a: Atoms, b: Atoms) -> np.ndarray:
        if len(a) != len(b):
            raise ValueError("every frame of a trajectory must hold the same atoms")
        d, _ = find_mic(b.positions - a.positions, cell, pbc)
        return d

    steps = np.array(
        [
            float(np.mean(np.linalg.norm(delta(a, b), axis=1)))
            for a, b in zip(frames[:-1], frames[1:], strict=True)
        ]
    )
    rmsd = np.array(
        [float(np.sqrt(np.mean(np.sum(delta(first, b) ** 2, axis=1)))) for b in frames]
    )
    return steps, rmsd


def motion_summary(frames: Sequence[Atoms]) -> dict[str, float]:
    """How far a trajectory went, as stored with it: the mean atom
    displacement per recorded step and the RMSD of its last frame from the
    first (Å); empty for fewer than two frames."""
    if len(frames) < 2:
        return {}
    steps, rmsd = trajectory_motion(frames)
    return {"step_displacement_A": float(steps.mean()), "rmsd_A": float(rmsd[-1])}
