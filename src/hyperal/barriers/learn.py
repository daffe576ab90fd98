"""The barrier campaign (docs/method.md §7): learn diffusion barriers of an
alloy across its hop environments, loop after loop, for few oracle calls.

Loop 0: hops drawn at random (a supercell, the hop at a random environment
of the hop tool) are searched with the oracle itself (:func:`find_saddle`
with every calculation an :meth:`Oracle.label`): ``initial.train`` of them
give the first training data (relaxed start, saddle, relaxed end), the other
``initial.random_set`` the frozen random check — their structures a test
set, their oracle barriers the reference of the barrier error. A committee
is fitted.

Loop k >= 1: ``starts`` new hops are searched on the committee (through the
executor). A hop whose ends do not relax on the committee is an
*instability*: its unrelaxed start is labelled and trains, and so does the
last frame of the committee's failed relaxation whose atoms are still
``triage.min_distance_A`` apart (*collapse*). A saddle with atoms closer than
``triage.min_distance_A`` or committee forces beyond
``triage.max_force_eV_A`` is *blocked* (never labelled, counted). Every other
MLIP saddle is labelled by the oracle, with the committee's relaxed start
when the energy rule is on: oracle max force above
``triage.artifact_force_eV_A`` makes it *artifactual* (it trains); a
committee barrier off the oracle's at those two structures by more than
``triage.barrier_error_eV`` sends saddle and start to training (*energy*);
else it is *proximal* (the proximal-saddle test set). The committee is
refitted (warm) and evaluated: errors on the proximal and random sets, and
the barriers of the random hops searched on the committee against the
oracle's, with a bootstrap interval over hops (:mod:`.statistics`).

The campaign composes the campaign's stages (store, executor, oracle, fit,
label, resume): rows are written as they arrive under the run ``barriers``;
a killed run resumes where it stopped.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.geometry import get_distances
from ase.optimize import FIRE
from pydantic import BaseModel, ConfigDict

from hyperal.barriers.config import BarrierConfig
from hyperal.barriers.paths import (
    decorated_cell,
    hop_end,
    load_case,
    path_environment,
    representatives,
    sample,
    strained,
)
from hyperal.barriers.saddle import find_saddle
from hyperal.barriers.statistics import (
    BarrierErrors,
    barrier_errors,
    barrier_errors_by,
    interval_text,
)
from hyperal.oracle import Label, Oracle
from hyperal.runs.context import StageContext
from hyperal.runs.executors import completed
from hyperal.runs.fingerprint import fingerprint
from hyperal.runs.progress import StageKind
from hyperal.runs.records import (
    OracleStatus,
    Split,
    Stage,
    hop_name,
    imported_name,
)
from hyperal.runs.results import SplitErrors
from hyperal.runs.runner import RunPlan, open_run
from hyperal.runs.seeds import stream
from hyperal.runs.stages import (
    errors_of,
    errors_on,
    fit,
    label_pending,
    predictions_on,
    stop_if_all_failed,
    training_set,
    warm_start,
)
from hyperal.runs.store import structure_key
from hyperal.runs.tasks import LabelFailed, RememberingLabeller, committee

#: The run name of a barrier campaign's rows and checkpoints.
RUN = "barriers"
POINTS = ("start", "saddle", "end")


class BarrierMetrics(BaseModel):
    """One loop of a barrier campaign."""

    model_config = ConfigDict(extra="forbid")

    loop: int
    oracle_calls: int
    n_train: int
    counts: dict[str, int] = {}
    tests: dict[str, SplitErrors] = {}
    #: the random hops: oracle and committee barriers (eV), in hop order
    barrier_oracle: list[float] = []
    barrier_mlip: list[float | None] = []
    #: why each committee search gave no barrier to trust ("" when it did)
    barrier_mlip_reason: list[str] = []
    #: each random hop's "hop type: hopping species" (:func:`hop_group`)
    barrier_hops: list[str] = []
    barrier_rmse_meV: float | None = None
    #: the barrier errors with their bootstrap interval over hops, overall
    #: and per hop type and hopping species (None in stores written before)
    barrier: BarrierErrors | None = None
    barrier_by_hop: dict[str, BarrierErrors] = {}
    #: atoms the oracle computed (each call counts its structure's atoms)
    oracle_atoms: int = 0
    #: per cell size (e.g. "2x2x2"): oracle_calls, oracle_atoms, and on the
    #: random hops of that size random_hops, random_force_rmse_meV_A,
    #: random_barrier_rmse_meV (docs/method.md §7: small cells per atom)
    by_cell_size: dict[str, dict[str, float | int | None]] = {}

    def errors(self, split: str):
        found = self.tests.get(split)
        return found.all if found else None

    def barrier_text(self) -> str:
        """The random-set barrier RMSE (meV) with its interval, ``"80 [55,
        101]"``; a store written before the interval was kept: the RMSE
        alone; ``"–"`` when no committee barrier was found."""
        if self.barrier is not None:
            return interval_text(self.barrier)
        return "–" if self.barrier_rmse_meV is None else f"{self.barrier_rmse_meV:.0f}"


# --- drawing hops ------------------------------------------------------------


def draw_hops(cfg: BarrierConfig, loop: int, n: int, stream_id: int) -> list[Atoms]:
    """``n`` hop start states of ``loop`` (random stream ``stream_id``): a
    hop type in turn, a cell size, a random environment (uniform over the
    symmetry-distinct ones), the other sites at random; ``info`` says which."""
    return list(itertools.islice(iter_hops(cfg, loop, stream_id), int(n)))


def iter_hops(cfg: BarrierConfig, loop: int, stream_id: int) -> Iterator[Atoms]:
    """The endless sequence that :func:`draw_hops` takes its first from. The
    sites outside the hop's neighbourhood follow a composition drawn mostly
    near equimolar (docs/method.md §1.5); with ``cells.strain`` the cell is
    strained at random (§1.6)."""
    from hyperal.structures.composition import sample_compositions
    from hyperal.structures.strain import deformation, deviatoric_strain

    rng = stream(cfg.seed, loop, stream_id)
    environments = [path_environment(load_case(h.case, a=h.a)) for h in cfg.hops]
    species_of = [lattice_species(cfg)] * len(environments)
    if cfg.environments == "enumerated":
        listed = [
            _environments(h.case, h.a, tuple(s))
            for h, s in zip(cfg.hops, species_of, strict=True)
        ]
        orders = [iter(()) for _ in environments]
    for i in itertools.count():
        k = i % len(environments)
        env, species = environments[k], species_of[k]
        size = tuple(cfg.cells.sizes[int(rng.integers(len(cfg.cells.sizes)))])
        if cfg.environments == "enumerated":
            decoration, hopping = _next_listed(listed[k], orders, k, env, species, rng)
        else:
            (decoration,) = sample(env, len(species), 1, rng=rng)
            hopping = (
                species[int(rng.integers(len(species)))]
                if env.case.kind == "vacancy"
                else None
            )
        (fractions,) = sample_compositions(species, 1, rng=rng)
        start = decorated_cell(
            env,
            decoration,
            species,
            hopping=hopping,
            repeat=size,
            fractions=fractions,
            rng=rng,
        )
        if cfg.cells.strain:
            linear = float(rng.uniform(*cfg.cells.linear_strain))
            von_mises = float(rng.uniform(*cfg.cells.von_mises_strain))
            f = deformation(linear=linear, deviatoric=deviatoric_strain(von_mises, rng))
            start = strained(start, f)
            start.info.update(linear_strain=linear, von_mises_strain=von_mises)
        start.info["cell_size"] = "x".join(str(s) for s in size)
        yield start


def lattice_species(cfg: BarrierConfig) -> list[str]:
    """The species of the lattice sites: the elements less those that hop
    between interstitial sites (O in NbTiZr+O: a metal-vacancy hop is then
    drawn in the O-free alloy)."""
    return [e for e in cfg.system.elements if e not in interstitial_species(cfg)]


def interstitial_species(cfg: BarrierConfig) -> set[str]:
    cases = [load_case(h.case, a=h.a) for h in cfg.hops]
    return {c.hopping for c in cases if c.kind == "interstitial"}


@functools.lru_cache(maxsize=8)
def _environments(case: str, a: float | None, species: tuple[str, ...]) -> np.ndarray:
    """Every symmetry-distinct environment of a hop (directed convention), one
    representative each (computed once per process: a few seconds for the
    bcc vacancy hop with 3 species)."""
    return representatives(path_environment(load_case(case, a=a)), len(species))


def _next_listed(listed, orders, k, env, species, rng):
    """The next (decoration, hopping species) of hop type ``k`` in a seeded
    order of all its distinct environments (× the hopping atom's species for
    a vacancy hop): every one is taken once before any is taken again."""
    hoppers = list(species) if env.case.kind == "vacancy" else [None]
    for _ in range(2):
        index = next(orders[k], None)
        if index is not None:
            return listed[index // len(hoppers)], hoppers[index % len(hoppers)]
        orders[k] = iter(rng.permutation(len(listed) * len(hoppers)).tolist())
    raise AssertionError("a hop type with no environment")


def _options(cfg: BarrierConfig) -> dict:
    s = cfg.saddle
    return {
        "fmax": s.fmax_eV_A,
        "method": s.method,
        "relax_steps": s.relax_steps,
        "dimer_steps": s.dimer_steps,
        "neb_images": s.neb_images,
        "neb_steps": s.neb_steps,
        "relax_fmax": s.relax_fmax_eV_A,
        "intermediates": s.intermediates,
    }


# --- tasks (module level: they go to any executor) ---------------------------


def oracle_saddle(oracle: Oracle, start: Atoms, options: dict):
    """The oracle's own saddle search of the hop ``start``: (result or None,
    labels of start / saddle / end, every other labelled structure of the
    search as (atoms, label) in call order, oracle calls, failure reason)."""
    calc = RememberingLabeller(oracle)
    try:
        result = find_saddle(start, hop_end(start), calc, **options)
    except (LabelFailed, ValueError) as exc:
        why = f"oracle: {exc}" if isinstance(exc, LabelFailed) else str(exc)
        return None, {}, list(calc.frames.values()), calc.calls, why
    labels = {p: calc.label_of(getattr(result, p)) for p in POINTS}
    points = {structure_key(getattr(result, p)) for p in POINTS}
    path = [frame for key, frame in calc.frames.items() if key not in points]
    return result, labels, path, calc.calls, ""


def mlip_saddle(checkpoint: str, start: Atoms, options: dict, floor: float = 0.0):
    """The committee's saddle search of the hop ``start``: (result or None,
    the committee's largest force at the saddle, failure reason, the
    collapse frame or None). When an end does not relax (an instability),
    the collapse frame is the last structure of the committee's own
    relaxation of that end whose closest atoms are still ``floor`` Å apart
    (:func:`last_physical`)."""
    calc = committee(checkpoint).calculator()
    try:
        result = find_saddle(start, hop_end(start), calc, **options)
    except Exception as exc:  # an exploding committee: an instability
        why = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        return None, np.inf, why, _collapse(start, calc, options, floor)
    if "did not relax" in result.reason:
        return result, np.inf, "", _collapse(start, calc, options, floor)
    probe = result.saddle.copy()
    probe.calc = calc
    force = float(np.max(np.linalg.norm(probe.get_forces(), axis=1)))
    return result, force, "", None


def _collapse(start: Atoms, calc, options: dict, floor: float) -> Atoms | None:
    """The collapse frame of whichever end of the hop the committee cannot
    relax (start first), or None when both relax."""
    fmax = options.get("relax_fmax") or options["fmax"]
    for end in (start, hop_end(start)):
        frame, relaxed = last_physical(end, calc, fmax, options["relax_steps"], floor)
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
        if _min_distance(work) < floor or not np.all(np.isfinite(forces)):
            break
        if optimizer.nsteps > 0:
            last = work.copy()
            last.calc = None
        if float(np.max(np.linalg.norm(forces, axis=1))) < fmax:
            return last, True
    if last is not None:
        last.info.update(atoms.info)
    return last, False


def mlip_barrier(checkpoint: str, start: Atoms, end: Atoms, options: dict):
    """The committee's forward barrier between two given states: (barrier in
    eV, "") or, when its search fails or finds no barrier to trust
    (:attr:`SaddleResult.ok`), (None, why)."""
    calc = committee(checkpoint).calculator()
    try:
        result = find_saddle(start, end, calc, **options)
    except Exception as exc:
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
    if result.ok:
        return float(result.barrier_forward), ""
    return None, _untrusted(result)


def _untrusted(result) -> str:
    """Why a search's barrier is not to be trusted, in one line."""
    if result.reason:
        return " ".join(result.reason.split())[:300]
    return (
        f"the saddle lies below an end (forward {result.barrier_forward:+.3f} eV, "
        f"backward {result.barrier_backward:+.3f} eV)"
    )


# --- stages --------------------------------------------------------------------


def _pairs(ctx, loop, index, point, atoms, **extra) -> dict:
    return {
        "name": hop_name(ctx.run, loop, index, point),
        "run": ctx.run,
        "loop": loop,
        "stage": Stage.HOP.value,
        "start_index": index,
        "point": point,
        "source": f"hop_{point}",
        "hop": atoms.info.get("hop", ""),
        # ase.db refuses a string that reads as a number: keep it text
        "decoration": "d" + str(atoms.info.get("decoration", "")),
        "hopping": atoms.info.get("hopping", ""),
        "cell_size": atoms.info.get("cell_size", ""),
        **{
            key: float(atoms.info[key])
            for key in ("linear_strain", "von_mises_strain")
            if key in atoms.info
        },
        **extra,
    }


def _have(ctx, loop) -> set[int]:
    return {
        row.start_index for row in ctx.store.rows(loop=loop, run=ctx.run, stage="hop")
    }


def import_campaign(ctx: StageContext):
    """Loop 0 with ``initial.from_campaign``: the labels the source committee
    was fitted on, copied into this store as training rows in one write (no
    oracle call; done once); returns the source (None without one)."""
    from hyperal.barriers.source import open_source, source_training
    from hyperal.runs.store import display_url

    if ctx.config.initial.from_campaign is None:
        return None
    # a rerun continues from the loop imported (every imported row names
    # it), even when the source campaign has finished more loops since
    done = next(
        ctx.store.db.select(run=ctx.run, stage=Stage.IMPORTED.value, limit=1), None
    )
    source = open_source(ctx.config, loop=None if done is None else done.source_loop)
    if done is not None:
        return source
    entries = []
    for k, atoms in enumerate(source_training(source)):
        results = atoms.calc.results
        label = Label(
            "ok",
            energy=float(results["energy"]),
            forces=np.array(results["forces"]),
            stress=results.get("stress"),
            oracle=atoms.info.get("oracle", ""),
        )
        pairs = {
            "name": imported_name(ctx.run, k),
            "run": ctx.run,
            "loop": 0,
            "stage": Stage.IMPORTED.value,
            "frame": k,
            "split": Split.TRAIN.value,
            "source": atoms.info.get("source", "imported"),
            "imported_from": f"{display_url(source.store.path)}#{atoms.info['name']}",
            "source_loop": source.loop,
        }
        entries.append((atoms, pairs, label))
    ctx.store.add(entries)
    ctx.report(0, StageKind.INITIAL, 1, 1, f"{len(entries)} labels imported")
    return source


def initial_barriers(ctx: StageContext) -> int:
    """Loop 0: the oracle's saddle searches of the training and the random
    hops; each hop's three labelled points stored together."""
    cfg: BarrierConfig = ctx.config
    hops = [(h, Split.TRAIN) for h in draw_hops(cfg, 0, cfg.initial.train, 1)]
    hops += [(h, Split.RANDOM) for h in draw_hops(cfg, 0, cfg.initial.random_set, 2)]
    have = _have(ctx, 0)
    todo = [i for i in range(len(hops)) if i not in have]
    options = _options(cfg)
    calls = ((i, oracle_saddle, (ctx.oracle, hops[i][0], options)) for i in todo)
    for n, (i, (result, labels, path, paid, failure)) in enumerate(
        completed(ctx.executor, calls), 1
    ):
        start, split = hops[i]
        # every labelled structure of the search is kept; every
        # path_stride-th of a training hop's path trains, a random hop's path
        # never (its three points are the test set)
        stride = cfg.initial.path_stride
        entries = [
            (
                atoms,
                _pairs(
                    ctx,
                    0,
                    i,
                    f"path-{k}",
                    start,
                    split=(
                        Split.TRAIN
                        if split == Split.TRAIN and k % stride == 0
                        else Split.NONE
                    ).value,
                    from_search=1,
                ),
                label,
            )
            for k, (atoms, label) in enumerate(path)
        ]
        if result is None:
            pairs = _pairs(
                ctx, 0, i, "start", start, split=Split.NONE.value, search_calls=paid
            )
            entries.append(
                (start, pairs, Label("failed", reason=failure, oracle=ctx.oracle.name))
            )
        else:
            # a random hop whose oracle search gives no barrier to trust (not
            # converged, not connecting, a saddle below an end) cannot be the
            # reference of a barrier error: its labels are kept, outside the
            # random set; a training hop's labels train either way
            usable = split == Split.TRAIN or result.ok
            common = {
                "split": (split if usable else Split.NONE).value,
                "barrier_oracle": float(result.barrier_forward),
                "connects": int(result.connects),
                "converged": int(result.converged),
                "method": result.method,
                "intermediates": len(result.intermediates),
                "from_search": 1,
                "drawn_as": split.value,
            }
            if not result.ok:
                common["search_reason"] = _untrusted(result)
            for point in POINTS:
                atoms = getattr(result, point).copy()
                atoms.info.update(start.info)
                extra = dict(common)
                if point == "saddle":
                    extra["search_calls"] = paid
                entries.append(
                    (atoms, _pairs(ctx, 0, i, point, atoms, **extra), labels[point])
                )
        ctx.store.add(entries)  # a search's labels arrive together: one write
        ctx.report(0, StageKind.INITIAL, n, len(todo), "oracle saddle searches")
    return len(todo)


def _min_distance(atoms: Atoms) -> float:
    _, d = get_distances(atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return float(np.min(d[np.triu_indices(len(atoms), 1)]))


def choose_hops(ctx: StageContext, loop: int, checkpoint: Path) -> list[Atoms]:
    """Loop ``loop``'s hops to search on the committee: the first ``starts``
    drawn (``selection.score: none``), or the tail of the scores of the
    drawn hops' start states — the committee's σ_U per atom or the grade γ
    — with ``selection.test_fraction`` of the tail set aside (their starts
    labelled into the tail test set, never trained on): docs/method.md §7."""
    from hyperal.committee.grade import ExtrapolationGrade, select_tail
    from hyperal.models.protocol import predict

    cfg: BarrierConfig = ctx.config
    chosen = cfg.selection
    if chosen.score == "none":
        return draw_hops(cfg, loop, cfg.starts, 0)
    model = committee(str(checkpoint))
    if chosen.score == "sigma":

        def score(atoms):
            (prediction,) = predict(model, [atoms])
            return float(prediction.sigma) / len(atoms)

    else:
        grade = ExtrapolationGrade.from_training(
            model, training_set(ctx, loop - 1, [ctx.run])
        )

        def score(atoms):
            return grade.structure(model, atoms)

    n_test = int(round(chosen.test_fraction * cfg.starts / (1 - chosen.test_fraction)))
    picked = select_tail(
        iter_hops(cfg, loop, 0),
        score,
        cfg.starts + n_test,
        test_fraction=n_test / (cfg.starts + n_test),
        min_drawn=chosen.min_drawn,
        max_drawn=chosen.max_drawn,
        short_tail="top",
        rng=stream(cfg.seed, loop, 3),
    )
    for atoms in picked.test:
        atoms.info["tail_test"] = 1
    ctx.report(
        loop,
        StageKind.EVOLVE,
        0,
        1,
        f"tail of {picked.drawn} drawn hops ({chosen.score})"
        + ("" if picked.complete else ": short, the highest scores taken"),
    )
    return [*picked.train, *picked.test]


def search_saddles(ctx: StageContext, loop: int, checkpoint: Path) -> int:
    """Loop ``loop``: the committee's saddle searches of the chosen hops
    (:func:`choose_hops`), each outcome stored as it arrives: an instability
    (the unrelaxed start, to be labelled into training), a blocked saddle, or
    a saddle to label. A tail test hop's start is stored to be labelled into
    the tail test set instead of being searched."""
    cfg: BarrierConfig = ctx.config
    have = _have(ctx, loop)
    # the same hops on a rerun: the same draws, scores and checkpoint
    hops = choose_hops(ctx, loop, checkpoint)
    tests = [i for i, h in enumerate(hops) if h.info.get("tail_test")]
    for i in tests:
        if i not in have:
            pairs = _pairs(ctx, loop, i, "start", hops[i], split=Split.TAIL.value)
            ctx.store.add([(hops[i], pairs)])
    have = _have(ctx, loop)
    todo = [i for i in range(len(hops)) if i not in have and i not in tests]
    options = _options(cfg)
    triage = cfg.triage
    calls = (
        (i, mlip_saddle, (str(checkpoint), hops[i], options, triage.min_distance_A))
        for i in todo
    )
    for n, (i, (result, force, failure, collapse)) in enumerate(
        completed(ctx.executor, calls), 1
    ):
        start = hops[i]
        unstable = result is None or "did not relax" in result.reason
        if unstable:
            why = failure or result.reason
            pairs = _pairs(
                ctx,
                loop,
                i,
                "start",
                start,
                split=Split.TRAIN.value,
                triage="instability",
                reason=why[:200],
            )
            entries = [(start, pairs)]
            if collapse is not None:
                # the edge of the committee's hole, labelled: it trains too
                pairs = _pairs(
                    ctx,
                    loop,
                    i,
                    "collapse",
                    collapse,
                    split=Split.TRAIN.value,
                    triage="collapse",
                    closest_A=_min_distance(collapse),
                )
                entries.append((collapse, pairs))
            ctx.store.add(entries)
        else:
            saddle = result.saddle.copy()
            saddle.info.update(start.info)
            pairs = _pairs(
                ctx,
                loop,
                i,
                "saddle",
                saddle,
                split=Split.NONE.value,
                barrier_mlip=float(result.barrier_forward),
                connects=int(result.connects),
                method=result.method,
                mlip_max_force=float(force),
            )
            closest = _min_distance(saddle)
            blocked = closest < triage.min_distance_A or force > triage.max_force_eV_A
            if blocked:
                pairs.update(
                    oracle_status=OracleStatus.SKIPPED.value,
                    triage="blocked",
                    oracle_reason=f"blocked: closest atoms {closest:.2f} Å, "
                    f"committee max force {force:.1f} eV/Å",
                )
            entries = [(saddle, pairs)]
            if not blocked and triage.barrier_error_eV is not None:
                # the energy rule needs the oracle's energy at the committee's
                # relaxed start too: the oracle barrier at the committee's
                # two structures, against the committee's (sort_saddles)
                relaxed = result.start.copy()
                relaxed.info.update(start.info)
                entries.append(
                    (
                        relaxed,
                        _pairs(ctx, loop, i, "start", relaxed, split=Split.NONE.value),
                    )
                )
            ctx.store.add(entries)
        ctx.report(loop, StageKind.EVOLVE, n, len(todo), "MLIP saddle searches")
    return len(todo)


def sort_saddles(ctx: StageContext, loop: int) -> None:
    """Labelled MLIP saddles of ``loop``, by two rules (docs/method.md §7).
    Force rule: oracle max force above ``triage.artifact_force_eV_A`` makes
    the saddle *artifactual* (it trains). Energy rule (with
    ``triage.barrier_error_eV``): the committee's barrier E(saddle) −
    E(start) against the oracle's at the same two structures (the saddle and
    the committee's relaxed start, both labelled); off by more than the
    limit, the saddle and its start train — an *energy* saddle when the
    force rule alone would have called it proximal. The others are
    *proximal* (the proximal-saddle test set). Every saddle records its
    oracle max force, and, where its start was labelled, the oracle barrier
    there (``barrier_oracle_here``) and the error (``barrier_error``)."""
    triage = ctx.config.triage
    labelled = ctx.store.rows(
        loop=loop,
        run=ctx.run,
        stage="hop",
        oracle_status="ok",
        split=Split.NONE.value,
    )
    starts = {row.start_index: row for row in labelled if row.point == "start"}
    db = ctx.store.db
    with db:
        for row in (row for row in labelled if row.point == "saddle"):
            force = float(np.max(np.linalg.norm(row.forces, axis=1)))
            by_force = force > triage.artifact_force_eV_A
            found: dict = {}
            start = starts.get(row.start_index)
            off = False
            if start is not None and triage.barrier_error_eV is not None:
                here = float(row.energy) - float(start.energy)
                error = float(row.barrier_mlip) - here
                found = {"barrier_oracle_here": here, "barrier_error": error}
                off = abs(error) > triage.barrier_error_eV
                if off:
                    db.update(start.id, split=Split.TRAIN.value, energy_start=1)
            kind = "artifactual" if by_force else "energy" if off else "proximal"
            split = Split.TRAIN if by_force or off else Split.PROXIMAL
            db.update(
                row.id,
                split=split.value,
                triage=kind,
                oracle_max_force=force,
                barrier_off=int(off),
                **found,
            )


def hop_group(row) -> str:
    """A stored hop's "hop type: hopping species" (e.g. ``fcc-vacancy: Cu``)."""
    return f"{row.get('hop', '') or '?'}: {row.get('hopping', '') or '?'}"


def _cost_by_cell_size(store, run: str, loop: int) -> dict[str, dict]:
    """Oracle calls and atoms computed up to ``loop``, per cell size: an
    oracle search's calls (``search_calls``; every structure it labelled is
    stored, but one structure may be computed more than once) times its
    cell's atoms, plus one call per structure labelled afterwards (a label
    copied from an identical structure or imported from another store cost
    nothing here). The database picks the few rows that carry these keys,
    not the thousands of stored search paths."""
    cost: dict[str, dict] = {}

    def add(row, calls):
        entry = cost.setdefault(
            row.get("cell_size", "") or "other", {"oracle_calls": 0, "oracle_atoms": 0}
        )
        entry["oracle_calls"] += calls
        entry["oracle_atoms"] += calls * row.natoms

    upto = f"loop<={int(loop)}"
    for row in store.rows(f"search_calls,{upto}", run=run):
        add(row, int(row.search_calls))
    for status in (OracleStatus.OK, OracleStatus.FAILED):
        for row in store.rows(f"loop>=1,{upto}", run=run, oracle_status=status.value):
            if not row.get("cached") and not row.get("from_search"):
                add(row, 1)
    return dict(sorted(cost.items()))


def evaluate_barriers(ctx: StageContext, loop: int, checkpoint: Path) -> BarrierMetrics:
    """Loop ``loop``'s figures: errors on the proximal saddles (all loops so
    far) and on the random set, the random hops' barriers searched on the
    committee against the oracle's, the triage counts, the oracle calls."""
    store, run = ctx.store, ctx.run
    ctx.report(loop, StageKind.EVALUATE, 0, 1)
    tests = {}
    for split in (Split.PROXIMAL, Split.TAIL):
        images = store.labelled(split=split, max_loop=loop, runs=[run])
        errors = errors_on(ctx, loop, checkpoint, images)
        if errors is not None:
            tests[split.value] = errors
    # the random set is predicted once: its errors overall and per cell size
    random = store.labelled(split=Split.RANDOM, max_loop=0, runs=[run])
    predicted = predictions_on(ctx, checkpoint, random) if random else []
    if random:
        tests[Split.RANDOM.value] = errors_of(
            random, predicted, loop, ctx.config.calibration
        )
    saddles = store.rows(
        run=run, loop=0, stage="hop", point="saddle", split=Split.RANDOM.value
    )
    ends = {
        (row.start_index, row.point): row.toatoms()
        for row in store.rows(run=run, loop=0, stage="hop", split=Split.RANDOM.value)
    }
    options = _options(ctx.config)
    calls = (
        (
            row.start_index,
            mlip_barrier,
            (
                str(checkpoint),
                ends[(row.start_index, "start")],
                ends[(row.start_index, "end")],
                options,
            ),
        )
        for row in saddles
    )
    found = dict(completed(ctx.executor, calls))
    oracle = [float(row.barrier_oracle) for row in saddles]
    mlip = [found[row.start_index][0] for row in saddles]
    groups = [hop_group(row) for row in saddles]
    upto = f"loop<={int(loop)}"
    counts: dict[str, int] = {}
    for row in store.rows(f"triage,{upto}", run=run):
        counts[row.triage] = counts.get(row.triage, 0) + 1
    # the energy rule's count whatever the force rule said (artifactual
    # saddles whose barrier was off too are counted here and there)
    counts["barrier_off"] = store.count(f"barrier_off=1,{upto}", run=run)
    counts["oracle_failures"] = store.count(upto, run=run, oracle_status="failed")
    # random hops whose oracle search gave no barrier to trust (left out)
    counts["random_untrusted"] = store.count(
        run=run, loop=0, point="saddle", drawn_as="random", split=Split.NONE.value
    )
    by_size = _cost_by_cell_size(store, run, loop)
    random_sizes = [row.get("cell_size", "") for row in saddles]
    for size, figures in by_size.items():
        mine = [k for k, a in enumerate(random) if a.info.get("cell_size") == size]
        errors = (
            errors_of(
                [random[k] for k in mine],
                [predicted[k] for k in mine],
                loop,
                ctx.config.calibration,
            )
            if mine
            else None
        )
        here = [k for k, z in enumerate(random_sizes) if z == size]
        figures.update(
            random_hops=sum(z == size for z in random_sizes),
            random_force_rmse_meV_A=None
            if errors is None
            else errors.all.force_rmse_meV_A,
            random_barrier_rmse_meV=barrier_errors(
                [oracle[k] for k in here], [mlip[k] for k in here]
            ).rmse_meV,
        )
    overall = barrier_errors(oracle, mlip)
    metrics = BarrierMetrics(
        loop=loop,
        oracle_calls=sum(int(f["oracle_calls"]) for f in by_size.values()),
        n_train=len(store.labelled(split=Split.TRAIN, max_loop=loop, runs=[run])),
        counts=counts,
        tests=tests,
        barrier_oracle=oracle,
        barrier_mlip=mlip,
        barrier_mlip_reason=[found[row.start_index][1] for row in saddles],
        barrier_hops=groups,
        barrier=overall,
        barrier_by_hop=barrier_errors_by(groups, oracle, mlip),
        barrier_rmse_meV=overall.rmse_meV,
        oracle_atoms=sum(int(f["oracle_atoms"]) for f in by_size.values()),
        by_cell_size=by_size,
    )
    store._put(
        Stage.BARRIER_METRICS,
        f"{run}:barrier-metrics-{loop}",
        run,
        loop,
        {"metrics": metrics.model_dump(mode="json")},
    )
    ctx.report(loop, StageKind.EVALUATED, 1, 1)
    return metrics


def barrier_metrics(store, run: str = RUN) -> list[BarrierMetrics]:
    """Per-loop figures of a barrier campaign, loop order."""
    return [
        BarrierMetrics.model_validate(row.data["metrics"])
        for row in store._get(Stage.BARRIER_METRICS, run)
    ]


def _finished(ctx: StageContext, loop: int) -> Path | None:
    done = any(m.loop == loop for m in barrier_metrics(ctx.store, ctx.run))
    return finished_checkpoint(ctx, loop) if done else None


def finished_checkpoint(ctx: StageContext, loop: int) -> Path | None:
    from hyperal.models.checkpoint import damage

    path = ctx.checkpoint(loop)
    return path if not damage(path) else None


def initial_barrier_loop(ctx: StageContext) -> Path:
    source = import_campaign(ctx)
    initial_barriers(ctx)
    stop_if_all_failed(ctx, 0)
    warm = source is not None and source.warm_start
    checkpoint = fit(ctx, 0, init=source.checkpoint if warm else None)
    evaluate_barriers(ctx, 0, checkpoint)
    return checkpoint


def barrier_loop(ctx: StageContext, loop: int, checkpoint: Path) -> Path:
    search_saddles(ctx, loop, checkpoint)
    label_pending(ctx, loop, stage=Stage.HOP, split=Split.TRAIN)
    label_pending(ctx, loop, stage=Stage.HOP, split=Split.NONE)
    label_pending(ctx, loop, stage=Stage.HOP, split=Split.TAIL)
    stop_if_all_failed(ctx, loop)
    sort_saddles(ctx, loop)
    new = fit(ctx, loop, init=warm_start(ctx, loop))
    evaluate_barriers(ctx, loop, new)
    return new


class BarrierCampaign:
    """Runs (or resumes) a barrier campaign."""

    def __init__(
        self,
        config: BarrierConfig,
        progress: Callable | None = None,
        *,
        accept_changes: bool = False,
    ):
        from hyperal.runs.store import Store

        self.config = config
        self.store = Store(config.store)
        self.progress = progress
        self.accept_changes = accept_changes

    def plan(self) -> RunPlan:
        """The barrier campaign as the runner sees it: a store belongs to one
        barrier campaign (as a campaign's does)."""
        cfg = self.config
        settings = cfg.model_dump(mode="json")
        return RunPlan(
            store=cfg.store,
            what="barrier campaign",
            key=f"fingerprint:{RUN}",
            fingerprint=fingerprint(settings),
            oracle=cfg.oracle,
            executor=cfg.executor,
            records={"barrier_campaign": settings},
            accept_changes=self.accept_changes,
            background_labels=False,
        )

    def run(self) -> list[BarrierMetrics]:
        """Run every loop not yet finished; returns the per-loop metrics."""
        cfg = self.config
        with open_run(self.plan(), self.progress) as opened:
            ctx = opened.context(cfg, RUN)
            checkpoint = _finished(ctx, 0) or initial_barrier_loop(ctx)
            for loop in range(1, cfg.loops + 1):
                checkpoint = _finished(ctx, loop) or barrier_loop(ctx, loop, checkpoint)
        return barrier_metrics(self.store)


__all__ = [
    "RUN",
    "BarrierCampaign",
    "BarrierMetrics",
    "barrier_metrics",
    "draw_hops",
]
