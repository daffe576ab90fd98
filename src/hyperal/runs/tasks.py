"""Worker tasks: module-level functions of picklable arguments, sent through
the campaign's executor (in process, a process pool or Dask).

A task that needs the committee receives its checkpoint *path* and loads it
once per worker process (:func:`committee`, cached by path and manifest
time); no model is ever pickled. Checkpoints must therefore lie on a file
system the workers share with the coordinator (true in process, for a local
pool or LocalCluster, and for Slurm workers on a cluster file system).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.optimize import FIRE

from hyperal.committee.grade import ExtrapolationGrade
from hyperal.diversity import motion_summary
from hyperal.evolve.rules import get_rule
from hyperal.evolve.scores import RELATIVE_FLOOR_EV_A, frame_scores, get_score
from hyperal.evolve.select import select_frame, spread_out
from hyperal.evolve.settings import SchemeBase
from hyperal.models.checkpoint import MANIFEST, load_checkpoint, write_checkpoint
from hyperal.models.progress import EpochFile, epoch_file, listening
from hyperal.models.protocol import CommitteeModel, FitReport, Prediction
from hyperal.models.protocol import predict as predictions
from hyperal.models.registry import get_backend
from hyperal.oracle import Label, Oracle
from hyperal.runs.executors import all_cores
from hyperal.runs.store import Store, structure_key


@functools.lru_cache(maxsize=2)
def _cached(path: str, stamp: int) -> CommitteeModel:
    return load_checkpoint(path)


def committee(path: str | Path) -> CommitteeModel:
    """The committee of checkpoint ``path``, loaded once per process (a
    rewritten checkpoint, with a new manifest time, is loaded again)."""
    path = Path(path)
    return _cached(str(path.resolve()), (path / MANIFEST).stat().st_mtime_ns)


class LabelFailed(Exception):
    """An oracle call of a dynamics failed: ``label`` is its failed label,
    ``atoms`` the structure it failed on."""

    def __init__(self, label: Label, atoms: Atoms):
        super().__init__(label.reason)
        self.label = label
        self.atoms = atoms


class LabellingCalculator(Calculator):
    """Each calculation is one :meth:`Oracle.label` — with the oracle's time
    limit, retries and checks — so an optimiser driven by it labels every
    step the way every other label is made; the last label is kept."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, oracle: Oracle):
        super().__init__()
        self.oracle = oracle
        self.last: Label | None = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        super().calculate(atoms, properties, system_changes or all_changes)
        label = self.oracle.label(self.atoms)
        self.last = label
        if not label.ok:
            failed = self.atoms.copy()
            failed.calc = None
            raise LabelFailed(label, failed)
        self.results = {
            "energy": label.energy,
            "free_energy": label.energy,
            "forces": label.forces,
        }
        if label.stress is not None:
            self.results["stress"] = label.stress


class RememberingLabeller(LabellingCalculator):
    """Every oracle label of a dynamics (a saddle search, an oracle
    trajectory), kept with its structure in call order: none of them is
    thrown away, and the structures a caller wants are found among the
    labels already paid for (:meth:`label_of`)."""

    def __init__(self, oracle: Oracle):
        super().__init__(oracle)
        self.frames: dict[str, tuple[Atoms, Label]] = {}
        self.calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        self.calls += 1
        self.last = None
        try:
            super().calculate(atoms, properties, system_changes)
        finally:
            if self.last is not None:
                plain = self.atoms.copy()
                plain.calc = None
                self.frames.setdefault(structure_key(plain), (plain, self.last))

    def label_of(self, atoms: Atoms) -> Label:
        found = self.frames.get(structure_key(atoms))
        if found is not None:
            return found[1]
        self.calls += 1  # not computed at exactly these positions
        label = self.oracle.label(atoms)
        self.frames[structure_key(atoms)] = (atoms.copy(), label)
        return label


def oracle_relaxation(
    oracle: Oracle, atoms: Atoms, steps: int, fmax: float
) -> tuple[list[tuple[Atoms, Label]], tuple[Atoms, Label] | None]:
    """Relax ``atoms`` with the oracle (FIRE); every step's structure with its
    label, each made by :meth:`Oracle.label` (time limit, retries, checks,
    seconds). Returns the frames and what ended the relaxation early (None
    if nothing did): the structure the oracle failed on with its failed
    label, or the last structure with the optimiser's error."""
    frames: list[tuple[Atoms, Label]] = []
    work = atoms.copy()
    calc = LabellingCalculator(oracle)
    work.calc = calc
    optimizer = FIRE(work, logfile=None)
    try:
        for _ in optimizer.irun(fmax=fmax, steps=steps):
            plain = work.copy()
            plain.calc = None
            frames.append((plain, calc.last))
    except LabelFailed as exc:  # the oracle failed mid-trajectory: keep what came
        return frames, (exc.atoms, exc.label)
    except Exception as exc:  # the optimiser itself failed
        reason = f"{type(exc).__name__}: {exc}"
        last = work.copy()
        last.calc = None
        return frames, (last, Label("failed", reason=reason, oracle=oracle.name))
    return frames, None


@dataclass(frozen=True)
class Selected:
    """Outcome of one evolution: the selected frame (or None) and why, and
    the next candidates in the selection rule's order (each with its σ_U and
    its selection score, the same number for ``energy_sigma``)."""

    atoms: Atoms | None
    sigma: float
    status: str
    reason: str
    candidates: tuple[tuple[Atoms, float, float], ...] = ()
    #: how far the trajectory went: the mean atom displacement per recorded
    #: step and the RMSD of its last frame from the start (Å)
    motion: dict[str, float] = field(default_factory=dict)


def evolve_and_select(
    *,
    checkpoint: str,
    scheme: SchemeBase,
    selection: dict,
    atoms: Atoms,
    seed: int,
    candidates: int = 1,
    spread: bool = False,
) -> Selected:
    """Evolve ``atoms`` with ``scheme`` (its settings model, which builds the
    evolver; ``scheme.steps`` steps) on the committee of ``checkpoint`` and
    select one frame (``selection``: :func:`select_frame`'s limits, rule
    and score); ``candidates`` frames in the rule's order come back, the
    selected one first — with ``spread``, the best of each of ``candidates``
    stretches of the trajectory (:func:`~hyperal.evolve.select.spread_out`),
    the pool of a batch selection."""
    calc = committee(checkpoint).calculator()
    result = scheme.evolver(calc, rng=seed).run(atoms, steps=scheme.steps)
    motion = motion_summary([f.to_atoms() for f in result.frames])
    selection = dict(selection)
    floor = selection.pop("relative_floor_eV_A", None) or RELATIVE_FLOOR_EV_A
    if not get_rule(selection.get("rule", "max_sigma")).uses_score:
        selection["score"] = "energy_sigma"  # only to block frames without σ_U
    score = selection.get("score", "energy_sigma")
    grade = None
    if get_score(score).needs_active_set:  # saved beside it by the evolve stage
        model, active = committee(checkpoint), ExtrapolationGrade.load(checkpoint)

        def grade(atoms):
            return active.structure(model, atoms)

    scores = frame_scores(
        result.frames,
        score,
        calculator=calc,
        per_atom=selection.get("per_atom", False),
        relative_floor_eV_A=floor,
        grade=grade,
    )
    # the random rule draws from its own stream, not the evolution's
    chosen = select_frame(result, **selection, scores=scores, rng=seed + 1)
    if not chosen.selected:
        return Selected(None, math.nan, result.status, chosen.reason, motion=motion)
    order = (
        spread_out(chosen.ranked, len(result.frames), candidates)
        if spread
        else chosen.ranked[:candidates]
    )
    ranked = tuple(
        (result.frames[k].to_atoms(), result.frames[k].sigma, float(scores[k]))
        for k in order
    )
    return Selected(
        chosen.frame.to_atoms(),
        chosen.frame.sigma,
        result.status,
        chosen.reason,
        ranked,
        motion,
    )


def fit_committee(
    *,
    options: Any,
    elements: Sequence[str],
    seed: int,
    frames: Sequence[Atoms],
    out: str,
    init: str | None,
    names: Sequence[str],
) -> FitReport:
    """Build a committee from ``options`` (a backend's typed options), fit it
    on ``frames`` — warm-started from the checkpoint ``init`` when given —
    and write it as the checkpoint ``out`` (its manifest lists the ``names``
    of the structures fitted). Each epoch is kept in :func:`epoch_file` of
    ``out`` for the coordinator waiting on the fit."""
    backend = get_backend(options.backend)
    model = backend.build(elements, options, seed=seed)
    start = load_checkpoint(init) if init else None
    with all_cores(), listening(EpochFile(epoch_file(out))):
        report = model.fit(frames, options.fit, init=start, seed=seed)
    write_checkpoint(
        model,
        out,
        options=options,
        seed=seed,
        report=report,
        extra={"training_names": list(names)},
    )
    return report


def label_and_record(store: str, row_id: int, oracle: Oracle, atoms: Atoms) -> Label:
    """Label one stored structure and write the label into its row at once,
    through a store connection of its own: the task of the coordinator's
    labelling thread (never of a remote worker), so a label finished while the
    main thread fits a committee is never lost to a kill."""

    label = oracle.label(atoms)
    Store(store).record_label(row_id, label)
    return label


def predict(checkpoint: str, images: Sequence[Atoms]) -> list[Prediction]:
    """Committee energy, forces and σ_U of each structure."""
    return predictions(committee(checkpoint), images)
