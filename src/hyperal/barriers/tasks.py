"""The barrier campaign's worker tasks (module level: they go to any
executor): the oracle's own saddle search with every call a label, the
committee's search from a checkpoint path, and the committee's barrier
along a given path.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.geometry import get_distances
from ase.optimize import FIRE

from hyperal.barriers.cells import hop_end
from hyperal.barriers.options import SaddleOptions
from hyperal.barriers.saddle import find_saddle
from hyperal.oracle import Oracle
from hyperal.runs.store import structure_key
from hyperal.runs.tasks import LabelFailed, RememberingLabeller, committee

#: The run name of a barrier campaign's rows and checkpoints.
RUN = "barriers"


POINTS = ("start", "saddle", "end")


def closest_pair(atoms: Atoms) -> float:
    """The shortest distance between two atoms (Å, minimum image)."""
    _, d = get_distances(atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return float(np.min(d[np.triu_indices(len(atoms), 1)]))


def oracle_saddle(oracle: Oracle, start: Atoms, options: SaddleOptions):
    """The oracle's own saddle search of the hop ``start``: (result or None,
    labels of start / saddle / end, every other labelled structure of the
    search as (atoms, label) in call order, oracle calls, failure reason)."""
    calc = RememberingLabeller(oracle)
    try:
        result = find_saddle(start, hop_end(start), calc, options)
    except (LabelFailed, ValueError) as exc:
        why = f"oracle: {exc}" if isinstance(exc, LabelFailed) else str(exc)
        return None, {}, list(calc.frames.values()), calc.calls, why
    labels = {p: calc.label_of(getattr(result, p)) for p in POINTS}
    points = {structure_key(getattr(result, p)) for p in POINTS}
    path = [frame for key, frame in calc.frames.items() if key not in points]
    return result, labels, path, calc.calls, ""


def mlip_saddle(
    checkpoint: str, start: Atoms, options: SaddleOptions, floor: float = 0.0
):
    """The committee's saddle search of the hop ``start``: (result or None,
    the committee's largest force at the saddle, failure reason, the
    collapse frame or None). When an end does not relax (an instability),
    the collapse frame is the last structure of the committee's own
    relaxation of that end whose closest atoms are still ``floor`` Å apart
    (:func:`last_physical`)."""
    calc = committee(checkpoint).calculator()
    try:
        result = find_saddle(start, hop_end(start), calc, options)
    except Exception as exc:  # an exploding committee: an instability
        why = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        return None, np.inf, why, _collapse(start, calc, options, floor)
    if not result.ends_relaxed:
        return result, np.inf, "", _collapse(start, calc, options, floor)
    probe = result.saddle.copy()
    probe.calc = calc
    force = float(np.max(np.linalg.norm(probe.get_forces(), axis=1)))
    return result, force, "", None


def _collapse(start: Atoms, calc, options: SaddleOptions, floor: float) -> Atoms | None:
    """The collapse frame of whichever end of the hop the committee cannot
    relax (start first), or None when both relax."""
    for end in (start, hop_end(start)):
        frame, relaxed = last_physical(
            end, calc, options.relax_fmax, options.relax_steps, floor
        )
        if not relaxed:
            return frame
    return None


def last_physical(
    atoms: Atoms, calc, fmax: float, steps: int, floor: float
) -> tuple[Atoms | None, bool]:
    """Relax ``atoms`` on ``calc`` (FIRE, as the saddle search does) and
    return (the last frame whose closest atoms are at least ``floor`` Å
    apart and whose forces are finite, or None when that is the first
    frame; whether the relaxation converged before leaving that region).

    A committee whose relaxation pulls atoms together has a hole — its
    energy falls without bound where no training structure reached (the
    NbTiZr + O committee's relaxations brought metal atoms to 0.01 Å). The
    unrelaxed start says nothing about that region; the frame on its edge,
    labelled by the oracle, shows the committee the repulsion it lacks."""
    work = atoms.copy()
    work.calc = calc
    optimizer = FIRE(work, logfile=None)
    last = None
    for _ in optimizer.irun(fmax=fmax, steps=steps):
        forces = work.get_forces()
        if closest_pair(work) < floor or not np.all(np.isfinite(forces)):
            break
        if optimizer.nsteps > 0:
            last = work.copy()
            last.calc = None
        if float(np.max(np.linalg.norm(forces, axis=1))) < fmax:
            return last, True
    if last is not None:
        last.info.update(atoms.info)
    return last, False


def mlip_barrier(checkpoint: str, start: Atoms, end: Atoms, options: SaddleOptions):
    """The committee's forward barrier between two given states: (barrier in
    eV, "") or, when its search fails or finds no barrier to trust
    (:attr:`SaddleResult.ok`), (None, why)."""
    calc = committee(checkpoint).calculator()
    try:
        result = find_saddle(start, end, calc, options)
    except Exception as exc:
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
    if result.ok:
        return float(result.barrier_forward), ""
    return None, untrusted_reason(result)


def untrusted_reason(result) -> str:
    """Why a search's barrier is not to be trusted, in one line."""
    if result.reason:
        return " ".join(result.reason.split())[:300]
    return (
        f"the saddle lies below an end (forward {result.barrier_forward:+.3f} eV, "
        f"backward {result.barrier_backward:+.3f} eV)"
    )
