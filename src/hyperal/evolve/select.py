"""Pick the frame worth labelling from a trajectory; drop near-duplicates.

docs/method.md §3: from each trajectory take the frame with the largest σ_U
whose largest atomic force is below F_max (reference 25 eV/Å) and whose
shortest interatomic distance is above a floor. Adversarial attack alone
creates unphysical structures (overlapping atoms, extreme energies); these
limits keep the selected frames physical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from hyperal.evolve.frames import EvolveResult, Frame, shortest_distance
from hyperal.evolve.rules import Rule, get_rule
from hyperal.evolve.scores import frame_scores, get_score
from hyperal.models.descriptors import BPDescriptor
from hyperal.utils import as_rng


@dataclass(frozen=True, eq=False)
class SelectResult:
    """The outcome of :func:`select_frame`.

    Attributes
    ----------
    frame : Frame or None
        The selected frame; None when every frame was blocked.
    index : int or None
        Its position in the list of frames.
    n_frames : int
        Frames considered.
    blocked_force, blocked_distance, blocked_uncertainty : int
        Frames blocked by max |F̄| >= ``max_force_eV_A``, by a shortest
        distance <= ``min_distance_A``, and for lacking a finite σ_U or energy
        (a frame may count under several limits).
    reason : str
        What was chosen, or why nothing was.
    ranked : tuple of int
        Every qualified frame's position, in the rule's order of preference
        (``index`` first): the next candidates when the first is refused (as
        redundant, by the campaign).
    """

    frame: Frame | None
    index: int | None
    n_frames: int
    blocked_force: int
    blocked_distance: int
    blocked_uncertainty: int
    reason: str
    ranked: tuple[int, ...] = ()

    @property
    def selected(self) -> bool:
        return self.frame is not None


def select_frame(
    frames: EvolveResult | Sequence[Frame],
    *,
    max_force_eV_A: float = 25.0,
    min_distance_A: float = 1.0,
    per_atom: bool = False,
    include_start: bool = True,
    rule: str = "max_sigma",
    scores: Sequence[float] | None = None,
    score: str = "energy_sigma",
    rng=None,
) -> SelectResult:
    """The physical frame with the largest committee uncertainty (or, with
    ``rule="random"``, a physical frame drawn uniformly).

    Parameters
    ----------
    frames : EvolveResult or sequence of Frame
        A trajectory.
    max_force_eV_A : float
        F_max: a frame qualifies only if max_i |F̄_i| < F_max (eV/Å).
    min_distance_A : float
        A frame qualifies only if its shortest interatomic distance is above
        this floor (Å).
    per_atom : bool
        Rank by σ_U / N instead of σ_U (the same within one trajectory of
        fixed size; it matters when frames of different sizes are pooled).
    include_start : bool
        Whether the trajectory's first frame (the unevolved start) may be
        chosen.
    rule : str
        A rule of :data:`hyperal.evolve.rules.RULES`: how the qualified
        frames are ordered. ``max_sigma`` ranks them by their score (largest
        first; σ_U unless ``scores`` are given); ``random`` orders them by a
        uniform random permutation — the same physical limits, no use of the
        uncertainty: the control that shows what selecting by σ is worth;
        ``trust_window`` keeps them in trajectory order (the loop draws among
        them by their scores).
    scores : sequence of float, optional
        One uncertainty score per frame (start included), e.g. from
        :func:`frame_scores`; default σ_U (σ_U / N with ``per_atom``). A
        frame without a finite score is blocked like one without σ_U.
    score : str
        The name of the score (:data:`hyperal.evolve.scores.SCORES`), for
        the reason given.
    rng : int or numpy Generator, optional
        Seeds the ``random`` rule.
    """
    chosen_rule = _check_rules(rule, score, max_force_eV_A, min_distance_A)
    frames = list(frames.frames if isinstance(frames, EvolveResult) else frames)
    scores = _scores_of(frames, scores, per_atom)
    candidates = frames if include_start else frames[1:]
    offset = len(frames) - len(candidates)
    values = scores[offset:]
    force = [not (f.max_force < max_force_eV_A) for f in candidates]
    distance = [not (f.min_distance > min_distance_A) for f in candidates]
    uncertain = [
        not (math.isfinite(v) and math.isfinite(f.energy))
        for f, v in zip(candidates, values, strict=True)
    ]
    blocked = [f or d or u for f, d, u in zip(force, distance, uncertain, strict=True)]
    qualified = [k for k, b in enumerate(blocked) if not b]

    order = chosen_rule.order(qualified, values, as_rng(rng))
    best = order[0] if order else None
    counts = dict(
        n_frames=len(candidates),
        blocked_force=sum(force),
        blocked_distance=sum(distance),
        blocked_uncertainty=sum(uncertain),
    )
    if best is None:
        reason = (
            f"no frame selected: all {len(candidates)} blocked "
            f"({counts['blocked_force']} by max |F| >= {max_force_eV_A:g} eV/Å, "
            f"{counts['blocked_distance']} by shortest distance <= "
            f"{min_distance_A:g} Å, {counts['blocked_uncertainty']} without a "
            f"finite {score})"
            if candidates
            else "no frame selected: no frames"
        )
        return SelectResult(frame=None, index=None, reason=reason, **counts)
    frame = candidates[best]
    reason = (
        f"frame {best + offset} (step {frame.step}) with "
        f"{get_score(score).text(values[best], per_atom)}"
        f"{chosen_rule.note}; {len(qualified)} of "
        f"{len(candidates)} frames qualified"
    )
    return SelectResult(
        frame=frame,
        index=best + offset,
        reason=reason,
        ranked=tuple(k + offset for k in order),
        **counts,
    )


def _check_rules(rule: str, score: str, max_force_eV_A, min_distance_A) -> Rule:
    """The registered rule ``rule``, once the limits and the score check."""
    entry = get_rule(rule)
    if not (max_force_eV_A > 0):
        raise ValueError(f"max_force_eV_A must be > 0, got {max_force_eV_A}")
    if not (min_distance_A >= 0):
        raise ValueError(f"min_distance_A must be >= 0, got {min_distance_A}")
    get_score(score)
    return entry


def _scores_of(frames: list, scores, per_atom: bool) -> np.ndarray:
    """One score per frame: the given ones (checked), else σ_U (per atom)."""
    if scores is None:
        scores = frame_scores(frames, "energy_sigma", per_atom=per_atom)
    scores = np.asarray(scores, dtype=float)
    if scores.shape != (len(frames),):
        raise ValueError(
            f"scores must give one value per frame ({len(frames)}), got "
            f"shape {scores.shape}"
        )
    return scores


def spread_out(ranked: Sequence[int], n_frames: int, k: int) -> list[int]:
    """Up to ``k`` of the ``ranked`` frame positions (best first), at most
    one from each of ``k`` equal stretches of a trajectory of ``n_frames``
    frames, best first: a trajectory's candidates for a batch then cover its
    course instead of ``k`` neighbouring, near-identical steps."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    out, seen = [], set()
    for position in ranked:
        stretch = position * k // max(n_frames, 1)
        if stretch not in seen:
            seen.add(stretch)
            out.append(position)
            if len(out) == k:
                break
    return out


@dataclass(frozen=True, eq=False)
class BatchChoice:
    """The outcome of :func:`select_batch`.

    Attributes
    ----------
    chosen : tuple of int
        Positions in the pool, in the order chosen.
    values : tuple of float
        Score × diversity factor of each chosen candidate when it was chosen.
    passed : tuple of int
        Positions of the candidates passed over as redundant (``kept``).
    length : float
        The diversity length ℓ (relative descriptor distance).
    """

    chosen: tuple[int, ...]
    values: tuple[float, ...]
    passed: tuple[int, ...]
    length: float


def select_batch(
    structures: Sequence[Atoms],
    scores: Sequence[float],
    n: int,
    *,
    descriptor: Callable[[Atoms], np.ndarray] | None = None,
    kept: RedundancyFilter | None = None,
    length: float | None = None,
    covered: Sequence[tuple[np.ndarray, np.ndarray]] = (),
) -> BatchChoice:
    """Choose ``n`` of a pool of candidate frames together: uncertain *and*
    unlike each other.

    Greedy, score-weighted farthest-point selection: each step takes the
    candidate with the largest score · (1 − exp(−d/ℓ)), where d is its
    relative descriptor distance (:func:`descriptor_distance`) to the nearest
    candidate chosen so far (the first choice is the largest score) and ℓ
    the median distance between the pool's candidates. A candidate close to
    one already chosen loses most of its score, so two near-identical frames
    of neighbouring trajectories are not both labelled, while a trajectory
    may give several frames when they differ. This is batch active learning
    by greedy distance-based selection in the spirit of Zaverkin et al.,
    Digital Discovery 1, 605 (2022), weighted by the uncertainty.

    Parameters
    ----------
    structures : sequence of Atoms
        The candidates (e.g. every trajectory's best frames).
    scores : sequence of float
        Their uncertainty scores (> 0 for a candidate to be chosen).
    n : int
        How many to choose (fewer when the pool runs out).
    descriptor : callable Atoms -> (N, F) array, optional
        Atom-centred descriptors; default ``kept``'s (one of the two is
        needed).
    kept : RedundancyFilter, optional
        Structures already held (training data, frames chosen earlier); a
        candidate it calls redundant is passed over, and each choice is added
        to it.
    length : float, optional
        ℓ; default the median finite pairwise distance of the pool.
    covered : sequence of (descriptors, numbers), optional
        Structures that count as chosen already (e.g. the training set,
        :meth:`RedundancyFilter.described`): a candidate near one keeps
        little of its score from the first choice on. Treating the training
        data as selected is how batch methods for regression such as
        MaxDist and LCMD pick where the pool is far from what is known
        (Holzmüller et al., JMLR 24, 164 (2023)).
    """
    scores = np.asarray(scores, dtype=float)
    if len(scores) != len(structures):
        raise ValueError(
            f"scores ({len(scores)}) must match structures ({len(structures)})"
        )
    if int(n) != n or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n}")
    if descriptor is None:
        if kept is None:
            raise ValueError("select_batch needs a descriptor or a RedundancyFilter")
        descriptor = kept.descriptor
    described = [describe(descriptor, atoms) for atoms in structures]
    p = len(structures)
    distances = np.zeros((p, p))
    for i in range(p):
        for j in range(i + 1, p):
            distances[i, j] = distances[j, i] = descriptor_distance(
                *described[i], *described[j]
            )
    if length is None:
        finite = distances[np.triu_indices(p, 1)]
        finite = finite[np.isfinite(finite) & (finite > 0)]
        length = float(np.median(finite)) if finite.size else 1.0
    if not (length > 0 and math.isfinite(length)):
        raise ValueError(f"length must be a finite number > 0, got {length}")
    open_ = np.isfinite(scores) & (scores > 0)
    nearest = np.full(p, np.inf)  # distance to the nearest chosen candidate
    for held in covered:
        nearest = np.minimum(
            nearest, [descriptor_distance(*d, *held) for d in described]
        )
    chosen, values, passed = [], [], []
    while len(chosen) < n and open_.any():
        factor = np.where(np.isinf(nearest), 1.0, -np.expm1(-nearest / length))
        value = np.where(open_, scores * factor, -np.inf)
        best = int(np.argmax(value))
        open_[best] = False
        if kept is not None and not kept.add_described(described[best]):
            passed.append(best)
            continue
        chosen.append(best)
        values.append(float(value[best]))
        nearest = np.minimum(nearest, distances[best])
    return BatchChoice(tuple(chosen), tuple(values), tuple(passed), float(length))


def beyond_limits(
    atoms, forces, *, max_force_eV_A: float | None, min_distance_A: float
) -> str:
    """Why a labelled structure lies beyond the physical limits of training
    frames ('' when within): its reference max atomic |F| (``forces``, eV/Å)
    not below ``max_force_eV_A`` (None: no cap), or its shortest interatomic
    distance (:func:`~hyperal.evolve.base.shortest_distance`, as for frames)
    not above ``min_distance_A``."""

    fmax = float(np.linalg.norm(forces, axis=1).max())
    if max_force_eV_A is not None and not fmax < max_force_eV_A:
        return f"max |F| {fmax:.1f} eV/Å >= {max_force_eV_A:g}"
    shortest = shortest_distance(atoms)
    if not shortest > min_distance_A:
        return f"shortest distance {shortest:.2f} Å <= {min_distance_A:g}"
    return ""


def describe(
    descriptor: Callable[[Atoms], np.ndarray], atoms: Atoms
) -> tuple[np.ndarray, np.ndarray]:
    """``atoms`` as :func:`descriptor_distance` compares it: its (N, F)
    atom-centred descriptors and its atomic numbers."""
    return np.asarray(descriptor(atoms), dtype=float), atoms.numbers.copy()


def descriptor_distance(
    a: np.ndarray, species_a: np.ndarray, b: np.ndarray, species_b: np.ndarray
) -> float:
    """Symmetric Hausdorff distance between two sets of atomic descriptors,
    matching atoms of the same element only, relative to the mean descriptor
    norm: 0 for the same structure up to symmetry, translation and atom order.
    ``inf`` when the two hold different element sets."""
    if set(species_a.tolist()) != set(species_b.tolist()):
        return math.inf
    worst = 0.0
    for s in np.unique(species_a):
        x, y = a[species_a == s], b[species_b == s]
        d = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=2)
        worst = max(worst, d.min(axis=1).max(), d.min(axis=0).max())
    scale = 0.5 * (np.linalg.norm(a, axis=1).mean() + np.linalg.norm(b, axis=1).mean())
    return float(worst / scale) if scale > 0 else float(worst)


@dataclass(eq=False)
class RedundancyFilter:
    """Drops structures nearly identical to one already kept.

    Two structures are redundant when the relative Hausdorff distance between
    their atom-centred descriptors (:func:`descriptor_distance`) is below
    ``threshold``. With the default Behler–Parrinello descriptor (cutoff 5 Å) a
    32-atom fcc Cu–Ni cell rattled by 0.01 Å (RMS per coordinate) lies 0.010
    from the original and one rattled by 0.1 Å lies 0.11; the default
    threshold 0.01 thus drops only near-copies (e.g. two relaxations that
    ended in the same minimum).

    Parameters
    ----------
    elements : sequence of str
        Every element the structures may contain.
    threshold : float
        Relative descriptor distance below which a structure is redundant.
    descriptor : callable Atoms -> (N, F) array, optional
        Atom-centred descriptor; default ``BPDescriptor(elements, cutoff=5)``.
        A fitted model's ``atomic_features`` (averaged over members) also works.
    """

    elements: Sequence[str]
    threshold: float = 0.01
    descriptor: Callable[[Atoms], np.ndarray] | None = None
    _kept: list[tuple[np.ndarray, np.ndarray]] = field(
        default_factory=list, init=False, repr=False
    )

    def __post_init__(self):
        if not (self.threshold >= 0):
            raise ValueError(f"threshold must be >= 0, got {self.threshold}")
        if not self.elements:
            raise ValueError("elements must name at least one element")
        if self.descriptor is None:
            self.descriptor = BPDescriptor(
                elements=tuple(self.elements), cutoff=5.0
            ).compute

    def __len__(self) -> int:
        return len(self._kept)

    def _describe(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        return describe(self.descriptor, atoms)

    def nearest(self, atoms: Atoms) -> float:
        """Smallest descriptor distance from ``atoms`` to a kept structure
        (``inf`` when none is kept)."""
        return self._nearest(self._describe(atoms))

    def _nearest(self, described) -> float:
        return min(
            (descriptor_distance(*described, *kept) for kept in self._kept),
            default=math.inf,
        )

    def described(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every kept structure as :func:`descriptor_distance` compares it."""
        return list(self._kept)

    def keep(self, atoms: Atoms) -> None:
        """Keep ``atoms`` without asking (a structure already in the data)."""
        self._kept.append(self._describe(atoms))

    def add(self, atoms: Atoms) -> bool:
        """Keep ``atoms`` unless redundant; True when kept."""
        return self.add_described(self._describe(atoms))

    def add_described(self, described: tuple[np.ndarray, np.ndarray]) -> bool:
        """:meth:`add` for a structure already described: its (N, F)
        descriptors and atomic numbers."""
        if self._nearest(described) < self.threshold:
            return False
        self._kept.append(described)
        return True

    def filter(self, structures: Sequence[Atoms]) -> list[Atoms]:
        """The structures that are not redundant (with the kept ones or each
        other), in order."""
        return [atoms for atoms in structures if self.add(atoms)]
