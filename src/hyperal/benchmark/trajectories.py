"""The trajectory-only benchmark (``hyperal benchmark --trajectories``): which
sampling source gives the most transferable training data, with no active
learning in the way.

Per replicate ``r`` (campaign seed + r) the same starts — the campaign's
loop-1 starts, then loop 2's ... until there are enough — are evolved by each
source scheme (plain MD, contour exploration, dimer; ``trajectories.sources``)
*on the oracle*: every energy and force the dynamics asks for is one oracle
label, stored the moment its trajectory ends (run ``r<r>.traj.<source>``,
stage ``trajectory``; the recorded dynamics steps carry ``step`` ≥ 0, the
other calls — a dimer's rotation images, contour exploration's reference
relaxation — ``step = -1``: paid for, kept, counted, not trained on).

A seeded share of the starts (``trajectories.withheld``, the same starts for
every source) is withheld: their trajectories are the test sets, one per
source, and their union the mixed test set. A committee is trained on each
source's other trajectories — the same number of frames for every source,
evenly spaced along its trajectories, so that the sources differ in what
they sampled, not in how much — and tested on every source's withheld
trajectories: a (train source × test source) error table, which is the
sampling benchmark of the reference method with no active learning (its
reference finding: dimer data the most diverse and the hardest to fit,
contour exploration the best model).

Resume: a stored trajectory is not run again, a fitted committee whose
training frames are unchanged is not refitted, stored errors of an unchanged
committee on unchanged test sets are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
from ase import Atoms

from hyperal.benchmark.run import Benchmark
from hyperal.campaign.config import CampaignConfig
from hyperal.campaign.starts import Start, loop_starts
from hyperal.diversity import motion_summary
from hyperal.evolve.schemes import make_evolver
from hyperal.models.checkpoint import damage, read_manifest
from hyperal.oracle import Label, Oracle
from hyperal.runs.context import RunError, StageContext
from hyperal.runs.fingerprint import fingerprint
from hyperal.runs.flow import completed
from hyperal.runs.progress import StageKind
from hyperal.runs.query import Row, Where
from hyperal.runs.records import OracleStatus, Split, declare, row_name
from hyperal.runs.results import FinalErrors
from hyperal.runs.runner import RunPlan, open_run
from hyperal.runs.seeds import task_seed
from hyperal.runs.stages import errors_of, fit_on, predictions_on
from hyperal.runs.store import Store, structure_key
from hyperal.runs.tasks import LabelFailed, RememberingLabeller
from hyperal.structures.io import read_labelled

#: The name of the test set that mixes every source's withheld trajectories.
MIXED = "mixed"
#: The name of the user's test file among the test sets.
TEST_FILE = "test_file"
#: Loops of the campaign's start generator searched for enough starts.
MAX_START_LOOPS = 1000


class TrajectoryStage(StrEnum):
    """The trajectory benchmark's stage (declared to the kernel)."""

    TRAJECTORY = "trajectory"  # a labelled call of an oracle trajectory


class TrajectorySplit(StrEnum):
    """The trajectory benchmark's held-out trajectories (declared)."""

    WITHHELD = "withheld"  # oracle trajectories set aside for testing


declare(stages=TrajectoryStage, splits=TrajectorySplit)


def trajectory_name(run: str, start: int, call: int | None) -> str:
    """Oracle call ``call`` of the trajectory from start ``start`` (None:
    the record of a trajectory that labelled nothing)."""
    return row_name(run, f"traj-{start}-{'none' if call is None else call}")


def trajectory_run(replicate: int, source: str) -> str:
    return f"r{replicate}.traj.{source}"


# --- the oracle trajectory (a task: module level, picklable arguments) ---------


@dataclass(frozen=True)
class OracleTrajectory:
    """One trajectory run on the oracle: every labelled call as (structure,
    label, dynamics step or -1) in call order, how it ended, and how far it
    moved (mean displacement per recorded step and final RMSD, Å)."""

    calls: list[tuple[Atoms, Label, int]]
    status: str
    reason: str
    motion: dict[str, float] = field(default_factory=dict)
    #: oracle calls made: one more than ``calls`` holds for each repeated
    #: call on a structure already labelled (its label is that one's)
    paid: int = 0


def oracle_trajectory(
    oracle: Oracle, scheme: str, params: dict, steps: int, atoms: Atoms, seed: int
) -> OracleTrajectory:
    """Evolve ``atoms`` with ``scheme`` on the oracle itself for at most
    ``steps`` steps; none of the labels it pays for is thrown away (an
    oracle failure ends the trajectory, keeping the labels before it)."""
    calc = RememberingLabeller(oracle)
    evolver = make_evolver(scheme, calc, params, rng=seed)
    try:
        result = evolver.run(atoms, steps=steps)
    except LabelFailed as exc:
        calls = [(a, label, -1) for a, label in calc.frames.values()]
        return OracleTrajectory(calls, "failed", f"oracle: {exc}", paid=calc.calls)
    frames = [f.to_atoms() for f in result.frames]
    step_of = {
        structure_key(a): f.step for a, f in zip(frames, result.frames, strict=True)
    }
    calls = [
        (a, label, step_of.get(key, -1)) for key, (a, label) in calc.frames.items()
    ]
    motion = motion_summary(frames)
    return OracleTrajectory(calls, result.status, result.reason, motion, calc.calls)


# --- the benchmark -----------------------------------------------------------------


def trajectory_starts(cfg: CampaignConfig, count: int | None) -> list[Start]:
    """``count`` starts (default: all of loop 1's) from the campaign's start
    generator, loop 1 first, then loop 2's ... — the structures the campaign
    would explore from, difficult ones included."""
    starts: list[Start] = []
    for loop in range(1, MAX_START_LOOPS + 1):
        new = loop_starts(cfg, loop)
        if not new:
            raise RunError(
                "trajectories: the campaign's counts make no starts "
                "(counts.derived_metal, derived_oxide and random are all 0)"
            )
        starts += new
        if count is None or len(starts) >= count:
            break
    return starts[: count or len(starts)]


def withheld_starts(seed: int, n: int, share: float) -> set[int]:
    """The seeded ``share`` of ``n`` starts set aside for testing (at least
    one, and at least one left to train on)."""
    if n < 2:
        raise RunError(
            f"trajectories: {n} start; at least 2 are needed (one to train "
            "on, one withheld)"
        )
    k = min(n - 1, max(1, round(share * n)))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7472616A]))
    return set(rng.permutation(n)[:k].tolist())


def spaced(images: list, count: int) -> list:
    """``count`` of ``images`` evenly spaced from the first to the last."""
    if count >= len(images):
        return list(images)
    return [
        images[k] for k in np.linspace(0, len(images) - 1, count).round().astype(int)
    ]


@dataclass(frozen=True)
class TrajectoryBenchmark(Benchmark):
    """The trajectory-only benchmark of ``bench.trajectories`` on the
    campaign ``base`` (its system, oracle, starts and committee); its store,
    seeds and per-replicate campaign are the benchmark's."""

    @property
    def steps(self) -> int:
        return self.bench.trajectories.steps or self.base.scheme.steps

    @staticmethod
    def evolution_seed(seed: int, start: int) -> int:
        """The dynamics seed of start ``start`` (the same for every source)."""
        return task_seed(seed, 1, start)

    def fingerprint(self) -> dict:
        """What decides the trajectories and the fits: the base campaign, the
        start count, withheld share and steps, and each source's parameters.
        Sources, replicates and the training frame count may change."""
        t = self.bench.trajectories
        return {
            "campaign": fingerprint(self.base.model_dump(mode="json")),
            "trajectories": {"starts": t.starts, "withheld": t.withheld},
            "sources": {
                s: {"params": self.bench.source_params(s), "steps": self.steps}
                for s in t.sources
            },
        }

    def plan(self) -> RunPlan:
        """The trajectory benchmark as the runner sees it: sources and
        replicates may be added (or left out)."""
        return replace(
            super().plan(),
            what="trajectories",
            key="fingerprint:trajectories",
            fingerprint=self.fingerprint(),
            grows="sources",
            background_labels=False,
        )

    def run(self) -> None:
        """Run every trajectory not yet stored, fit and evaluate."""
        with open_run(self.plan(), self.progress) as opened:
            for r in range(self.bench.replicates):
                self._replicate(opened.context(self.shared_config(r)), r)

    def _replicate(self, ctx: StageContext[CampaignConfig], r: int) -> None:
        t = self.bench.trajectories
        starts = trajectory_starts(ctx.config, t.starts)
        withheld = withheld_starts(ctx.config.seed, len(starts), t.withheld)
        for source in t.sources:
            self._trajectories(
                ctx.with_run(trajectory_run(r, source)), source, starts, withheld
            )
        train = {s: self.frames_of(ctx.store, r, s, Split.TRAIN) for s in t.sources}
        count = min(len(frames) for frames in train.values())
        if t.frames is not None:
            count = min(count, t.frames)
        if count == 0:
            empty = [s for s, frames in train.items() if not frames]
            raise RunError(
                f"replicate {r}: no labelled training frame from "
                f"{', '.join(empty)} (`hyperal status` lists oracle failures)"
            )
        tests = {
            s: self.frames_of(ctx.store, r, s, TrajectorySplit.WITHHELD)
            for s in t.sources
        }
        tests = {s: images for s, images in tests.items() if images}
        tests[MIXED] = [a for images in tests.values() for a in images]
        if self.bench.test_file:  # the user's frozen set, as in the benchmark
            tests[TEST_FILE] = read_labelled(self.bench.test_file)
        for source in t.sources:
            run_ctx = ctx.with_run(trajectory_run(r, source))
            fitted = self._fit(run_ctx, spaced(train[source], count))
            self._evaluate(run_ctx, tests, refit=fitted)

    def _trajectories(
        self, ctx: StageContext[CampaignConfig], source: str, starts, withheld
    ) -> None:
        store = ctx.store
        done = {
            row.start_index
            for row in store.rows(Where(stage=TrajectoryStage.TRAJECTORY, run=ctx.run))
        }
        todo = [j for j in range(len(starts)) if j not in done]
        params = self.bench.source_params(source)
        calls = (
            (
                j,
                oracle_trajectory,
                (
                    ctx.oracle,
                    source,
                    params,
                    self.steps,
                    starts[j].atoms,
                    self.evolution_seed(ctx.config.seed, j),
                ),
            )
            for j in todo
        )
        for n, (j, trajectory) in enumerate(completed(ctx.executor, calls), 1):
            split = TrajectorySplit.WITHHELD if j in withheld else Split.TRAIN
            record = Row(
                trajectory_name(ctx.run, j, None),
                ctx.run,
                TrajectoryStage.TRAJECTORY,
                0,
                start_index=j,
                about={
                    "source": starts[j].source,
                    "scheme": source,
                    "evolution": trajectory.status,
                },
            )
            # the trajectory's motion and cost go on its first call's row
            first = {**trajectory.motion, "oracle_calls": trajectory.paid}
            entries = []
            for k, (atoms, label, step) in enumerate(trajectory.calls):
                row = record.replace(
                    name=trajectory_name(ctx.run, j, k),
                    split=split if step >= 0 else Split.NONE,
                    frame=k,
                    about={"step": step, **(first if k == 0 else {})},
                )
                entries.append((atoms, row, label))
            if not entries:  # nothing labelled: a record, so a rerun goes on
                skipped = record.replace(
                    status=OracleStatus.SKIPPED, reason=trajectory.reason
                )
                entries.append((starts[j].atoms, skipped))
            store.add(entries)  # a trajectory's labels arrive together: one write
            ctx.report(0, StageKind.LABEL, n, len(todo), f"{source} trajectories")

    @staticmethod
    def frames_of(store: Store, r: int, source: str, split: StrEnum) -> list[Atoms]:
        """The labelled dynamics steps of ``source``'s trajectories of
        replicate ``r`` in ``split`` (train or withheld), in start and step
        order."""
        return store.labelled(split=split.value, runs=[trajectory_run(r, source)])

    def _fit(self, ctx: StageContext[CampaignConfig], frames: list[Atoms]) -> bool:
        """Fit the run's committee on ``frames`` unless a sound checkpoint
        of exactly these frames exists; True when it fitted."""
        path = ctx.checkpoint(0)
        names = [a.info["name"] for a in frames]
        if not damage(path):
            if read_manifest(path).extra.get("training_names") == names:
                return False
        fit_on(ctx, 0, frames)
        return True

    @staticmethod
    def _evaluate(
        ctx: StageContext[CampaignConfig], tests: dict[str, list], refit: bool
    ) -> None:
        sizes = {name: len(images) for name, images in tests.items()}
        stored = ctx.store.final(ctx.run)
        if stored and stored[0].sizes == sizes and not refit:
            return
        ctx.report(0, StageKind.EVALUATE, 0, 1, "withheld trajectories")
        checkpoint = ctx.checkpoint(0)
        calibration = ctx.config.calibration
        # each set predicted once; the mixed set is the sources' union
        predicted = {
            name: predictions_on(ctx, checkpoint, images)
            for name, images in tests.items()
            if name != MIXED
        }
        errors = {
            name: errors_of(tests[name], preds, 0, calibration)
            for name, preds in predicted.items()
        }
        errors[MIXED] = errors_of(
            tests[MIXED],
            [p for name, ps in predicted.items() if name != TEST_FILE for p in ps],
            0,
            calibration,
        )
        ctx.store.add_final(FinalErrors(loop=0, run=ctx.run, sizes=sizes, tests=errors))
        ctx.report(0, StageKind.EVALUATED, 1, 1)


# --- results -----------------------------------------------------------------------
