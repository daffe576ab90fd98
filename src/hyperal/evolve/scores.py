"""Selection scores: what ranks a trajectory's frames for labelling.

One registry, :data:`SCORES`: each entry names its unit, whether it asks the
committee where its members *disagree* (an uncertainty) or only where the
committee-mean physics is steep (a σ-free control), and the function that
scores a trajectory's frames. A new score is one :class:`Score` and one
:func:`register_score` call; the campaign file's ``selection.score`` accepts
every registered name, and the test suite scores a real trajectory with
every entry.

The σ-free controls answer a referee's question: does selecting by the
committee's spread add anything beyond "go where the force (or the energy) is
large"? A spread grows with the force, so a rule that takes the frame with the
largest predicted force may select much the same frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hyperal.evolve.base import NUMERICAL_ERRORS
from hyperal.evolve.frames import Frame
from hyperal.registry import Registry

#: DeePMD-kit's documented level of the relative force deviation (its LAMMPS
#: ``pair_style deepmd ... relative 1.0`` example), in eV/Å.
RELATIVE_FLOOR_EV_A = 1.0


@dataclass(frozen=True)
class ScoreOptions:
    """What a campaign's ``selection`` section tells a score."""

    per_atom: bool = False
    relative_floor_eV_A: float = RELATIVE_FLOOR_EV_A
    #: a structure's extrapolation grade γ (score ``gamma``): the committee's
    #: :meth:`~hyperal.committee.ExtrapolationGrade.structure` against the
    #: active set of its training data
    grade: Callable | None = None


@dataclass(frozen=True)
class Score:
    """A selection score.

    Attributes
    ----------
    name : str
        The ``selection.score`` value.
    unit : str
        Its unit, for messages ("" for a ratio).
    uncertainty : bool
        True when it measures the committee's disagreement; False for a
        σ-free control that reads only the committee mean.
    needs : str
        A calculator property the score evaluates each frame for (``""``:
        every frame already carries what it needs).
    compute : callable
        ``compute(frames, calculator, options) -> (n_frames,) array`` (options:
        :class:`ScoreOptions`), NaN where a frame has no score.
    summary : str
        What it picks, in a line: the campaign file's ``selection.score``
        description lists every entry's.
    """

    name: str
    unit: str
    uncertainty: bool
    needs: str
    compute: Callable[[Sequence[Frame], object, ScoreOptions], np.ndarray]
    summary: str

    symbol: str = ""
    #: the unit with ``per_atom`` (None: ``per_atom`` does not change it)
    per_atom_unit: str | None = None
    #: the score grades frames against the training set's active set
    #: (:class:`~hyperal.committee.grade.ExtrapolationGrade`), which the
    #: evolve stage saves beside the checkpoint and ``options.grade`` reads
    needs_active_set: bool = False

    def text(self, value: float, per_atom: bool = False) -> str:
        """``σ_U = 0.12 eV``: a value as a reason states it."""
        unit = self.per_atom_unit if per_atom and self.per_atom_unit else self.unit
        return f"{self.symbol or self.name} = {value:.4g}{' ' if unit else ''}{unit}"


SCORES: Registry[Score] = Registry("score")
"""Every selection score, by name (its :attr:`Score.summary` says what it
picks; :attr:`Score.uncertainty` whether it reads the committee's spread or
is a σ-free control); :func:`register_score` adds one."""


def register_score(score: Score) -> Score:
    """Add ``score`` to :data:`SCORES` (a name registered twice is an error)."""
    return SCORES.register(score.name, score)


def get_score(name: str) -> Score:
    """The registered score ``name``; a ValueError listing the others."""
    return SCORES[name]


def frame_scores(
    frames: Sequence[Frame],
    score: str = "energy_sigma",
    *,
    calculator=None,
    per_atom: bool = False,
    relative_floor_eV_A: float = RELATIVE_FLOOR_EV_A,
    grade: Callable | None = None,
) -> np.ndarray:
    """Each frame's score (:data:`SCORES`), NaN where it has none.

    A score that evaluates the frames (``needs``) takes ``calculator``, a
    committee calculator offering that property; the others read what every
    frame carries. ``per_atom`` divides σ_U by the atom count;
    ``relative_floor_eV_A`` is l of the relative force deviation; ``grade``
    (Atoms -> γ) scores ``gamma``.
    """
    if not relative_floor_eV_A > 0:
        raise ValueError(f"relative_floor_eV_A must be > 0, got {relative_floor_eV_A}")
    options = ScoreOptions(per_atom, relative_floor_eV_A, grade)
    entry = get_score(score)
    if entry.needs and (
        calculator is None
        or entry.needs not in getattr(calculator, "implemented_properties", ())
    ):
        raise ValueError(
            f"score {score!r} needs a committee calculator offering {entry.needs!r}"
        )
    return np.asarray(entry.compute(list(frames), calculator, options), dtype=float)


def _energy_sigma(frames, calculator, options) -> np.ndarray:
    return np.array(
        [f.sigma_per_atom if options.per_atom else f.sigma for f in frames],
        dtype=float,
    )


def _per_atom_spread(frames, calculator, value) -> np.ndarray:
    """``value(spread, mean_forces)`` of each frame evaluated on the
    committee: its per-atom force disagreement (N,) and mean forces (N, 3);
    NaN for a frame the committee cannot evaluate."""
    out = np.full(len(frames), np.nan)
    for k, frame in enumerate(frames):
        if not np.all(np.isfinite(frame.positions)) or not frame.natoms:
            continue
        atoms = frame.to_atoms()
        atoms.calc = calculator
        try:
            spread = np.asarray(calculator.get_property("forces_uncertainty", atoms))
            forces = np.asarray(calculator.get_property("forces", atoms))
        except NUMERICAL_ERRORS:
            continue
        out[k] = float(value(spread, forces))
    return out


def _force_sigma(reduce) -> Callable:
    def compute(frames, calculator, options) -> np.ndarray:
        return _per_atom_spread(frames, calculator, lambda s, f: reduce(s))

    return compute


def _force_sigma_relative(reduce) -> Callable:
    # the relative model deviation of DeePMD-kit (model_devi ``relative``)
    # and MACE's active-learning MD: σ_F,i / (|F̄_i| + l)
    def compute(frames, calculator, options) -> np.ndarray:
        floor = options.relative_floor_eV_A
        return _per_atom_spread(
            frames,
            calculator,
            lambda s, f: reduce(s / (np.linalg.norm(f, axis=1) + floor)),
        )

    return compute


def _gamma(frames, calculator, options) -> np.ndarray:
    if options.grade is None:
        raise ValueError(
            "score 'gamma' needs the grade of the committee's training data"
        )
    out = np.full(len(frames), np.nan)
    for k, frame in enumerate(frames):
        if np.all(np.isfinite(frame.positions)):
            out[k] = options.grade(frame.to_atoms())
    return out


def _force_magnitude(frames, calculator, options) -> np.ndarray:
    return np.array([f.max_force for f in frames], dtype=float)


def _energy_above(frames, calculator, options) -> np.ndarray:
    if not frames:
        return np.zeros(0)
    start = frames[0].energy
    return np.array(
        [
            (f.energy - start) / f.natoms if math.isfinite(start) else math.nan
            for f in frames
        ],
        dtype=float,
    )


register_score(
    Score(
        "energy_sigma",
        "eV",
        True,
        "",
        _energy_sigma,
        "the committee's energy spread σ_U (σ_U/N with per_atom), recorded "
        "with every frame",
        symbol="σ_U",
        per_atom_unit="eV/atom",
    )
)
register_score(
    Score(
        "force_sigma_max",
        "eV/Å",
        True,
        "forces_uncertainty",
        _force_sigma(np.max),
        "the largest per-atom force disagreement sqrt(mean_m |F_m,i − F̄_i|²) "
        "(one more committee evaluation per frame)",
    )
)
register_score(
    Score(
        "force_sigma_mean",
        "eV/Å",
        True,
        "forces_uncertainty",
        _force_sigma(np.mean),
        "the mean per-atom force disagreement (one more committee evaluation "
        "per frame)",
    )
)
register_score(
    Score(
        "force_sigma_relative",
        "",
        True,
        "forces_uncertainty",
        _force_sigma_relative(np.max),
        "the largest relative force deviation σ_F,i / (|F̄_i| + l), l = "
        "selection.relative_floor_eV_A (DeePMD-kit's relative model "
        "deviation): a spread that does not grow with the force itself",
    )
)
register_score(
    Score(
        "force_sigma_relative_mean",
        "",
        True,
        "forces_uncertainty",
        _force_sigma_relative(np.mean),
        "the mean relative force deviation over atoms",
    )
)
register_score(
    Score(
        "gamma",
        "",
        True,
        "",
        _gamma,
        "the MaxVol extrapolation grade γ, largest over atoms (Podryabinkin & "
        "Shapeev, Comput. Mater. Sci. 140, 171 (2017)): an atom's largest "
        "coordinate in the active set of the training data's atomic features "
        "(γ > 1 extrapolates); the active set is saved beside each checkpoint",
        symbol="γ",
        needs_active_set=True,
    )
)
register_score(
    Score(
        "force_magnitude",
        "eV/Å",
        False,
        "",
        _force_magnitude,
        "σ-free control: the committee mean's largest atomic force max_i |F̄_i| "
        "(where the physics is steep, without asking where members disagree)",
    )
)
register_score(
    Score(
        "energy_above",
        "eV/atom",
        False,
        "",
        _energy_above,
        "σ-free control: the committee mean's energy above the trajectory's "
        "start, per atom",
    )
)
