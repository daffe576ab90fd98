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

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from ase import Atoms

from hyperal.benchmark.config import BenchmarkConfig
from hyperal.benchmark.run import Benchmark, test_file_structures
from hyperal.benchmark.statistics import sample_std
from hyperal.campaign.config import CampaignConfig
from hyperal.campaign.starts import Start, loop_starts
from hyperal.diversity import motion_summary
from hyperal.evolve.schemes import make_evolver
from hyperal.models.checkpoint import damage, read_manifest
from hyperal.oracle import Label, Oracle
from hyperal.runs.context import RunError, StageContext
from hyperal.runs.executors import completed
from hyperal.runs.fingerprint import fingerprint
from hyperal.runs.progress import StageKind
from hyperal.runs.query import Where
from hyperal.runs.records import (
    OracleStatus,
    Split,
    Stage,
    trajectory_name,
)
from hyperal.runs.results import FinalErrors
from hyperal.runs.runner import RunPlan, open_run
from hyperal.runs.seeds import task_seed
from hyperal.runs.stages import errors_of, fit_on, predictions_on
from hyperal.runs.store import Store, structure_key
from hyperal.runs.tasks import LabelFailed, RememberingLabeller

#: The name of the test set that mixes every source's withheld trajectories.
MIXED = "mixed"
#: The name of the user's test file among the test sets.
TEST_FILE = "test_file"
#: Loops of the campaign's start generator searched for enough starts.
MAX_START_LOOPS = 1000


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

    def _replicate(self, ctx: StageContext, r: int) -> None:
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
        tests = {s: self.frames_of(ctx.store, r, s, Split.WITHHELD) for s in t.sources}
        tests = {s: images for s, images in tests.items() if images}
        tests[MIXED] = [a for images in tests.values() for a in images]
        if self.bench.test_file:  # the user's frozen set, as in the benchmark
            tests[TEST_FILE] = test_file_structures(self.bench.test_file)
        for source in t.sources:
            run_ctx = ctx.with_run(trajectory_run(r, source))
            fitted = self._fit(run_ctx, spaced(train[source], count))
            self._evaluate(run_ctx, tests, refit=fitted)

    def _trajectories(self, ctx: StageContext, source: str, starts, withheld) -> None:
        store = ctx.store
        done = {
            row.start_index
            for row in store.rows(Where(stage=Stage.TRAJECTORY, run=ctx.run))
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
            split = Split.WITHHELD if j in withheld else Split.TRAIN
            common = {
                "run": ctx.run,
                "loop": 0,
                "stage": Stage.TRAJECTORY.value,
                "source": starts[j].source,
                "scheme": source,
                "start_index": j,
                "evolution": trajectory.status,
            }
            entries = []
            for k, (atoms, label, step) in enumerate(trajectory.calls):
                pairs = {
                    **common,
                    "name": trajectory_name(ctx.run, j, k),
                    "split": split.value if step >= 0 else Split.NONE.value,
                    "frame": k,
                    "step": step,
                }
                if k == 0:
                    pairs.update(trajectory.motion, oracle_calls=trajectory.paid)
                entries.append((atoms, pairs, label))
            if not entries:  # nothing labelled: a record, so a rerun goes on
                entries.append(
                    (
                        starts[j].atoms,
                        {
                            **common,
                            "name": trajectory_name(ctx.run, j, None),
                            "oracle_status": OracleStatus.SKIPPED.value,
                            "oracle_reason": trajectory.reason[:500],
                        },
                    )
                )
            store.add(entries)  # a trajectory's labels arrive together: one write
            ctx.report(0, StageKind.LABEL, n, len(todo), f"{source} trajectories")

    @staticmethod
    def frames_of(store: Store, r: int, source: str, split: Split) -> list[Atoms]:
        """The labelled dynamics steps of ``source``'s trajectories of
        replicate ``r`` in ``split`` (train or withheld), in start and step
        order."""
        return store.labelled(split=split.value, runs=[trajectory_run(r, source)])

    def _fit(self, ctx: StageContext, frames: list[Atoms]) -> bool:
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
    def _evaluate(ctx: StageContext, tests: dict[str, list], refit: bool) -> None:
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

#: The figures of the error tables: (ErrorSummary field, title, unit).
FIGURES = (
    ("force_rmse_meV_A", "force RMSE", "meV/Å"),
    ("force_median_meV_A", "median force error", "meV/Å"),
    ("energy_rmse_meV_atom", "energy RMSE", "meV/atom"),
    ("angle_mae_deg", "force angle MAE", "°"),
)


@dataclass(frozen=True)
class SourceSummary:
    """What one source's trajectories cost and gave, over the replicates."""

    source: str
    trajectories: int
    oracle_calls: int
    failed_labels: int
    #: labelled dynamics steps in training trajectories / withheld ones
    train_frames: int
    withheld_frames: int
    #: frames its committees were trained on (per replicate)
    fitted: list[int]
    #: trajectories by how they ended
    endings: dict[str, int]
    step_displacement_A: list[float]
    rmsd_A: list[float]
    #: the training frames' oracle forces: RMS component and the 95th
    #: percentile of the atoms' |F| (eV/Å) — how far from equilibrium
    force_rms_eV_A: float = float("nan")
    force_p95_eV_A: float = float("nan")


@dataclass(frozen=True)
class TrajectoryResults:
    """The (train source × test set) errors of every replicate, and what
    each source cost; recomputed from the store alone."""

    sources: list[str]
    tests: list[str]
    replicates: int
    #: (train source, test set) -> (replicate, ErrorSummary) per replicate
    errors: dict[tuple[str, str], list]
    summaries: dict[str, SourceSummary]

    def mean_std(self, train: str, test: str, key: str) -> tuple[float, float, int]:
        values = [getattr(e, key) for _, e in self.errors.get((train, test), [])]
        values = [v for v in values if v is not None]
        if not values:
            return float("nan"), float("nan"), 0
        return float(np.mean(values)), sample_std(values), len(values)

    def paired(self, train: str, test: str, key: str) -> tuple[float, float, int]:
        """``train``'s error over the first source's on the same test set,
        replicate by replicate (the replicates' test sets differ, so a paired
        ratio separates sources that the spread of raw errors hides): mean,
        standard deviation and count."""
        mine = dict(self.errors.get((train, test), []))
        base = dict(self.errors.get((self.sources[0], test), []))
        ratios = [
            getattr(mine[r], key) / getattr(base[r], key)
            for r in sorted(set(mine) & set(base))
            if getattr(mine[r], key) is not None and (getattr(base[r], key) or 0) > 0
        ]
        if not ratios:
            return float("nan"), float("nan"), 0
        return float(np.mean(ratios)), sample_std(ratios), len(ratios)

    def rows(self, key: str, paired: bool = False) -> list[list[str]]:
        """Table rows of figure ``key``: a training source, then per test set
        the mean ± std of its error — or, ``paired``, of its ratio to the
        first source's (which then has no row)."""
        figure, digits = (self.paired, 2) if paired else (self.mean_std, 1)
        out = []
        for train in self.sources[1:] if paired else self.sources:
            row = [train]
            for test in self.tests:
                mean, std, n = figure(train, test, key)
                row.append("–" if n == 0 else f"{mean:.{digits}f} ± {std:.{digits}f}")
            out.append(row)
        return out

    def _block(self, caption: str, rows: list[list[str]]) -> str:
        width = max(14, *(len(t) + 2 for t in self.tests))
        lines = [
            caption,
            f"{'trained on':<12}" + "".join(f"{t:>{width}}" for t in self.tests),
        ]
        for row in rows:
            lines.append(f"{row[0]:<12}" + "".join(f"{c:>{width}}" for c in row[1:]))
        return "\n".join(lines)

    def sources_text(self) -> str:
        lines = [
            f"{'source':<10}{'trajectories':>13}{'oracle calls':>14}"
            f"{'train frames':>14}{'withheld':>10}{'fitted on':>14}"
            f"{'RMSD (Å)':>10}{'F RMS, p95 (eV/Å)':>19}  endings"
        ]
        for s in self.summaries.values():
            rmsd = f"{np.mean(s.rmsd_A):.2f}" if s.rmsd_A else "–"
            fitted = "/".join(str(n) for n in s.fitted) or "–"
            endings = ", ".join(f"{k} {v}" for k, v in sorted(s.endings.items()))
            lines.append(
                f"{s.source:<10}{s.trajectories:>13}{s.oracle_calls:>14}"
                f"{s.train_frames:>14}{s.withheld_frames:>10}{fitted:>14}"
                f"{rmsd:>10}{s.force_rms_eV_A:>11.2f}, {s.force_p95_eV_A:>6.2f}"
                f"  {endings}"
            )
        return "\n".join(lines)

    def text(self) -> str:
        blocks = [self.sources_text()]
        for key, title, unit in FIGURES:
            blocks.append(
                self._block(
                    f"{title} ({unit}) of the committee trained on each source "
                    "(rows) on the withheld trajectories of each source "
                    f"(columns); mean ± sample std over {self.replicates} replicate(s)",
                    self.rows(key),
                )
            )
        if len(self.sources) > 1:
            for key, title, _ in FIGURES:
                blocks.append(
                    self._block(
                        f"{title} over that of the committee trained on "
                        f"{self.sources[0]}, on the same test set of the same "
                        "replicate (paired); mean ± sample std",
                        self.rows(key, paired=True),
                    )
                )
        return "\n\n".join(blocks)

    def write_csv(self, folder) -> list:
        """``trajectories.csv``: one row per replicate, train source, test
        set and structure type, every error figure."""
        from pathlib import Path

        from hyperal.runs.results import ErrorSummary
        from hyperal.utils import write_csv

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        keys = list(ErrorSummary.model_fields)
        rows = [
            [r, train, test, *(getattr(summary, k) for k in keys)]
            for (train, test), values in self.errors.items()
            for r, summary in values
        ]
        header = ["replicate", "train_source", "test_set", *keys]
        return [write_csv(folder / "trajectories.csv", header, rows)]


def collect_trajectories(store: Store, bench: BenchmarkConfig) -> TrajectoryResults:
    """The trajectory benchmark's results, from the store alone."""
    t = bench.trajectories
    errors: dict[tuple[str, str], list] = {}
    summaries = {}
    tests: list[str] = []
    for source in t.sources:
        calls = failed = train = held = 0
        fitted, endings, displacement, rmsd, forces = [], {}, [], [], []
        trajectories = 0
        for r in range(bench.replicates):
            run = trajectory_run(r, source)
            rows = store.rows(Where(stage=Stage.TRAJECTORY, run=run))
            failed += sum(row.oracle_status == OracleStatus.FAILED for row in rows)
            labels = Counter(
                row.start_index
                for row in rows
                if row.oracle_status in (OracleStatus.OK, OracleStatus.FAILED)
            )
            for row in rows:
                if row.get("frame", 0) != 0:
                    continue
                trajectories += 1
                # calls made (a store written before they were recorded:
                # the labels stored)
                calls += int(row.get("oracle_calls", labels[row.start_index]))
                endings[row.evolution] = endings.get(row.evolution, 0) + 1
                if row.get("rmsd_A") is not None:
                    rmsd.append(float(row.rmsd_A))
                    displacement.append(float(row.step_displacement_A))
            ok = [row for row in rows if row.oracle_status == OracleStatus.OK]
            forces += [row.forces for row in ok if row.split == Split.TRAIN]
            train += sum(row.split == Split.TRAIN for row in ok)
            held += sum(row.split == Split.WITHHELD for row in ok)
            path = store.checkpoint_path(0, run)
            if not damage(path):
                fitted.append(len(read_manifest(path).extra.get("training_names", [])))
            for final in store.final(run):
                for name, split_errors in final.tests.items():
                    if name not in tests:
                        tests.append(name)
                    errors.setdefault((source, name), []).append((r, split_errors.all))
        force = np.concatenate(forces) if forces else np.zeros((0, 3))
        summaries[source] = SourceSummary(
            source,
            trajectories,
            calls,
            failed,
            train,
            held,
            fitted,
            endings,
            displacement,
            rmsd,
            float(np.sqrt(np.mean(force**2))) if len(force) else float("nan"),
            float(np.percentile(np.linalg.norm(force, axis=1), 95))
            if len(force)
            else float("nan"),
        )
    order = [s for s in t.sources if s in tests]
    order += [s for s in (MIXED, TEST_FILE) if s in tests]
    return TrajectoryResults(
        list(t.sources),
        order,
        bench.replicates,
        errors,
        summaries,
    )
