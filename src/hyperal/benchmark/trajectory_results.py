"""The trajectory benchmark's results read from its store: per source, what
its trajectories cost and gave, and the (training source × test source) error
tables, raw and paired (:func:`collect_trajectories`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hyperal.benchmark.config import BenchmarkConfig
from hyperal.benchmark.statistics import sample_std
from hyperal.benchmark.trajectories import (
    MIXED,
    TEST_FILE,
    TrajectorySplit,
    TrajectoryStage,
    trajectory_run,
)
from hyperal.models.checkpoint import damage, read_manifest
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus, Split
from hyperal.runs.results import ErrorSummary
from hyperal.runs.store import Store
from hyperal.utils import write_csv

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
            rows = store.rows(Where(stage=TrajectoryStage.TRAJECTORY, run=run))
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
            held += sum(row.split == TrajectorySplit.WITHHELD for row in ok)
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
