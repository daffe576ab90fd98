"""The trajectory benchmark's page: which sampling source, run on the oracle
with no active learning, trains the committee that transfers best to the
withheld trajectories of every source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hyperal.benchmark.trajectories import (
    TrajectoryBenchmark,
    TrajectoryStage,
    trajectory_run,
)
from hyperal.benchmark.trajectory_results import FIGURES
from hyperal.models.checkpoint import damage
from hyperal.report.benchmark import setting_rows
from hyperal.report.diversity import diversity_parts, motion_of
from hyperal.report.page import Page, table
from hyperal.runs.query import Where
from hyperal.runs.records import Split


def _matrix_figure(page, results):
    """Heat maps of the (train × test) mean errors, one panel per figure."""
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(FIGURES), figsize=(3.2 * len(FIGURES), 3.1))
    for ax, (key, title, unit) in zip(axes, FIGURES, strict=True):
        values = np.array(
            [
                [results.mean_std(train, test, key)[0] for test in results.tests]
                for train in results.sources
            ]
        )
        shown = np.ma.masked_invalid(values)
        image = ax.imshow(shown, cmap="viridis_r")
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                if np.isfinite(values[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{values[i, j]:.0f}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if shown[i, j] > shown.mean() else "black",
                    )
        ax.set_xticks(range(len(results.tests)), results.tests, fontsize=8)
        ax.set_yticks(range(len(results.sources)), results.sources, fontsize=8)
        ax.set(
            xlabel="tested on (withheld)",
            ylabel="trained on",
            title=f"{title} ({unit})",
        )
        fig.colorbar(image, ax=ax, shrink=0.7)
    fig.set_layout_engine("constrained")
    return page.figure(
        fig,
        "Mean errors over the replicates of the committee trained on each "
        "source's trajectories (rows) on the withheld trajectories of each "
        "source and on their union, 'mixed' (columns); lower is better, the "
        "colour scale is per panel.",
        "trajectory-errors",
    )


def _diversity(page, results, bench, store) -> list[str]:
    groups, motion = {}, {}
    for source in results.sources:
        groups[source] = [
            a
            for r in range(bench.replicates)
            for a in TrajectoryBenchmark.frames_of(store, r, source, Split.TRAIN)
        ]
        rows = [
            row
            for r in range(bench.replicates)
            for row in store.rows(
                Where(stage=TrajectoryStage.TRAJECTORY, run=trajectory_run(r, source))
            )
        ]
        motion.update(motion_of(rows, lambda _, s=source: s))
    checkpoint = store.checkpoint_path(0, trajectory_run(0, results.sources[0]))
    parts = diversity_parts(
        page,
        groups,
        None if damage(checkpoint) else checkpoint,
        motion,
        "each source sampled on the oracle (training trajectories, features "
        f"through the committee trained on {results.sources[0]}, replicate 0)",
    )
    return parts or ["<p class=note>No trajectories yet.</p>"]


def _setup_section(page: Page, results, bench, base) -> None:
    """What was run: the sources, starts, withheld share and committee."""
    t = bench.trajectories
    setup = page.section("What was run")
    setup.append(
        "<p>Each source scheme ran on the oracle itself — every energy and force "
        "its dynamics asked for is an oracle label — from the same starts (the "
        "campaign's loop-1 starts, then later loops' until there are enough). "
        "The trajectories of a seeded share of the starts, the same for every "
        "source, are withheld as test sets. A committee is trained on each "
        "source's other trajectories, on the same number of frames per source "
        "(evenly spaced along its trajectories), and tested on every source's "
        "withheld trajectories (and on the benchmark's test file, when it has "
        "one). No active learning: nothing is selected by σ.</p>"
    )
    setup.append(
        table(
            ["setting", "value"],
            [
                *setting_rows(bench, base),
                ["starts per replicate", t.starts or "the campaign's loop-1 starts"],
                ["withheld share of the starts", f"{t.withheld:.0%}"],
                ["steps per trajectory", t.steps or base.scheme.steps],
                ["training frames per source", t.frames or "the fewest any source has"],
                ["committee", json.dumps(base.committee.model_dump(mode="json"))],
            ],
            left=2,
        )
    )
    setup.append(
        table(
            ["source", "parameters"],
            [[s, json.dumps(bench.source_params(s))] for s in results.sources],
            left=2,
        )
    )


def _source_section(page: Page, results) -> None:
    """What each source cost in oracle calls and what its frames are like."""
    sources = page.section("What each source cost and gave")
    sources.append(
        "<p>Oracle calls count every label a source's trajectories paid for — "
        "the recorded dynamics steps and the calls between them (a dimer's "
        "rotation images, contour exploration's reference relaxation), which "
        "are kept but not trained on. Frames are labelled dynamics steps.</p>"
    )
    rows = []
    for s in results.summaries.values():
        rows.append(
            [
                s.source,
                s.trajectories,
                s.oracle_calls,
                s.failed_labels,
                s.train_frames,
                s.withheld_frames,
                "/".join(str(n) for n in s.fitted) or "–",
                f"{np.mean(s.step_displacement_A):.3f}" if s.rmsd_A else "–",
                f"{np.mean(s.rmsd_A):.2f}" if s.rmsd_A else "–",
                f"{s.force_rms_eV_A:.2f}",
                f"{s.force_p95_eV_A:.2f}",
                ", ".join(f"{k} {v}" for k, v in sorted(s.endings.items())),
            ]
        )
    sources.append(
        table(
            [
                "source",
                "trajectories",
                "oracle calls",
                "failed labels",
                "training frames",
                "withheld frames",
                "fitted on (per replicate)",
                "mean step displacement (Å)",
                "mean final RMSD (Å)",
                "training frames: RMS oracle force (eV/Å)",
                "95th pct atom |F| (eV/Å)",
                "endings",
            ],
            rows,
            left=1,
        )
    )


def _error_section(page: Page, results) -> None:
    """The (training source × test source) error tables, raw and paired."""
    errors = page.section("Errors per training source and test source")

    for key, title, unit in FIGURES:
        errors.append(
            f"<p><b>{title} ({unit})</b>, trained on (rows) × tested on the "
            f"withheld trajectories of (columns); mean ± standard deviation over "
            f"{results.replicates} replicate(s).</p>"
        )
        errors.append(table(["trained on", *results.tests], results.rows(key)))
    if len(results.sources) > 1:
        reference = results.sources[0]
        errors.append(
            "<p><b>Paired ratios.</b> Each replicate withholds other starts, so "
            "raw errors spread more between replicates than between sources; "
            f"here each committee's error is divided by that of the {reference}-"
            "trained committee on the same test set of the same replicate "
            "(below 1: better than it), mean ± standard deviation.</p>"
        )
        for key, title, _ in FIGURES:
            errors.append(f"<p>{title} / {reference}'s</p>")
            rows = results.rows(key, paired=True)
            errors.append(table(["trained on", *results.tests], rows))
    if results.errors:
        errors.append(_matrix_figure(page, results))


def write_trajectory_report(results, bench, base, store, path) -> Path:
    """Write the trajectory benchmark's self-contained HTML page to ``path``."""
    page = Page.about("hyperal trajectory benchmark", bench.store)
    _setup_section(page, results, bench, base)
    _source_section(page, results)
    _error_section(page, results)
    page.section("Sampling diversity").extend(_diversity(page, results, bench, store))
    path = Path(path)
    path.write_text(page.html())
    return path
