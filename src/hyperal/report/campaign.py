"""The campaign report: one self-contained HTML file read from the store only
(inline SVG figures, no network), checked in a headless browser by the tests.

Sections: what was run; the per-loop table; learning curves on the final
frozen test sets (every loop's committee on the same structures, per
structure type) and the per-loop metrics; parity plots of every loop as
small multiples; the committee's σ against its true error and its
calibration (rank correlation, calibration curves, miscalibration area, the
split-conformal factor and its held-out coverage); the data set's
composition and distributions; evolution outcomes; the uncertainty of the
selected frames; sampling diversity (per-atom features in two principal
components, bond lengths and angles, the trajectories' motion, per origin).
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path

import hyperal
from hyperal.models.checkpoint import damage
from hyperal.report.calibration import (
    calibration_alpha,
    calibration_curves_figure,
    calibration_figure,
    calibration_rows,
)
from hyperal.report.diversity import diversity_parts, motion_of
from hyperal.report.figures import (
    composition_figure,
    curves_figure,
    evolution_table,
    parity_figure,
    sigma_figure,
)
from hyperal.report.page import Page, split_colour, table, type_colour
from hyperal.report.status import (
    final_rows,
    pool_table,
    stop_line,
    summary_table,
    wall_line,
)
from hyperal.runs.query import Where
from hyperal.runs.records import MAIN_RUN, Stage


def _setup(store, metrics) -> str:
    cfg = store.setting("campaign") or {}
    rows = []
    if cfg:
        scheme = cfg.get("scheme", {})
        rows += [
            ["elements", ", ".join(cfg["system"]["elements"])],
            [
                "oracle",
                f"{cfg['oracle']['name']} {json.dumps(cfg['oracle']['kwargs'])}",
            ],
            [
                "scheme",
                f"{scheme.get('name')}, {scheme.get('steps')} steps, "
                f"parameters {json.dumps(scheme.get('params', {}))}",
            ],
            ["selection", json.dumps(cfg.get("selection", {}))],
            ["committee", json.dumps(cfg.get("committee", {}))],
            [
                "starts per loop",
                json.dumps(cfg.get("counts", {}))
                + f"; {cfg.get('difficult_fraction')} to the difficult set",
            ],
            ["seed", cfg.get("seed")],
        ]
    oracle_s = store.oracle_seconds(MAIN_RUN)
    untimed = store.untimed_labels(MAIN_RUN)
    fit_s = sum(m.fit.wall_s for m in metrics if m.fit is not None)
    rows += [
        ["hyperal", hyperal.__version__],
        ["loops finished", len(metrics) - 1],
        ["stop", stop_line(store)],
        [
            "oracle calls",
            f"{metrics[-1].oracle_calls} ({metrics[-1].oracle_failures} failed)",
        ],
        [
            "time",
            wall_line(metrics)
            + f"; oracle {oracle_s:.0f} s"
            + (
                f" ({untimed} labels of an older hyperal, which did not time "
                "loop 0, not counted)"
                if untimed
                else ""
            )
            + f", fits {fit_s:.0f} s",
        ],
    ]
    return table(["setting", "value"], rows, left=2)


def _origin_colour(name: str, k: int) -> str:
    """A diversity group's colour by what it is: the difficult set its
    split's, every other group its structure type's (loop 0's starts are
    known phases)."""
    if name == "difficult test set":
        return split_colour("difficult")
    if name == "initial relaxations":
        return type_colour("known")
    return type_colour(name.split(" · ")[-1])


def _diversity(store, page, metrics) -> list[str]:
    """The training data by where it came from — the initial relaxations and
    the selected frames per start type — and the difficult test set, through
    the last committee's features; the trajectories' motion per start type."""

    groups: dict[str, list] = {}
    for atoms in store.labelled(split="train", runs=[MAIN_RUN]):
        stage = atoms.info.get("stage")
        name = (
            "initial relaxations"
            if stage == "initial"
            else f"selected · {atoms.info.get('source', '?')}"
        )
        groups.setdefault(name, []).append(atoms)
    groups["difficult test set"] = store.labelled(split="difficult", runs=[MAIN_RUN])
    checkpoint = store.checkpoint_path(metrics[-1].loop)
    if damage(checkpoint):
        checkpoint = None
    motion = motion_of(
        store.rows(Where(stage=Stage.SELECTED, run=MAIN_RUN)),
        lambda row: f"{row.get('scheme', '?')} · {row.get('source', '?')}",
    )
    parts = diversity_parts(
        page, groups, checkpoint, motion, "of each origin", _origin_colour
    )
    return parts or ["<p class=note>No structures to compare yet.</p>"]


def write_report(store, path: str | Path) -> Path:
    """Write the HTML report of the campaign in ``store`` to ``path``."""
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib

    matplotlib.use("Agg", force=False)
    metrics = store.metrics()
    if not metrics:
        raise ValueError("the store has no finished loop yet")
    finals = store.final()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = Page("hyperal campaign report", f"store {store.path}; written {when}")
    page.section("What was run").append(_setup(store, metrics))
    summary = page.section("Per loop")
    summary.append(
        "<p>Errors are RMSE of the committee mean against the oracle (θ_F: mean "
        "angle between predicted and reference force vectors); the difficult "
        "column is measured on the difficult structures written up to that "
        "loop (a growing set — see the frozen-set curves below).</p>"
    )
    summary.append(summary_table(metrics) + pool_table(metrics))
    curves = page.section("Learning curves on the final frozen sets")
    if finals:
        header, rows = final_rows(finals)
        curves.append(
            "<p>Force RMSE (meV/Å) of every loop's committee on the final frozen "
            "sets, overall and per structure type.</p>" + table(header, rows, left=0)
        )
        calls = {m.loop: m.oracle_calls for m in metrics}
        curves.append(
            curves_figure(
                page,
                finals,
                [f.loop for f in finals],
                "loop",
                "Every loop's committee evaluated on the same final frozen sets — the "
                "gentle set and the union of all loops' difficult sets — overall "
                "(thick) and per structure type; solid gentle, dashed difficult. "
                "Each point measures the same structures, so a rise is a real loss.",
                "final-curves",
            )
        )
        curves.append(
            curves_figure(
                page,
                finals,
                [calls.get(f.loop, 0) for f in finals],
                "oracle calls (all labels so far)",
                "The same errors against the oracle calls spent so far (training and "
                "test labels).",
                "final-curves-calls",
            )
        )
    else:
        curves.append("<p class=note>Not yet: written after the last loop.</p>")
    per_loop = page.section("Per-loop metrics")
    per_loop.append(
        curves_figure(
            page,
            metrics,
            [m.loop for m in metrics],
            "loop",
            "Errors recorded at the end of each loop: the gentle set, and the "
            "difficult structures written up to that loop (the set grows with the "
            "loops, so this curve mixes model and test-set changes).",
            "loop-curves",
        )
    )
    if finals:
        page.section("Parity, every loop").append(parity_figure(page, finals))
        section = page.section("Uncertainty against error")
        coverage = 1 - calibration_alpha(finals)
        section.append(calibration_figure(page, finals[-1]))
        header, rows, left_out = calibration_rows(finals)
        if left_out:
            section.append(f"<p class=note>{html.escape(left_out)}</p>")
        if rows:
            section.append(
                "<p>Is σ calibrated? Per loop's committee on the final frozen sets: "
                "the rank correlation of σ and the true error; the miscalibration "
                "area (reading σ as a normal standard deviation: 0 calibrated, 0.5 "
                "worst); the split-conformal factor q fitted on a seeded half of "
                f"the set so that |error| ≤ q·σ covers {coverage:.0%} "
                "of new structures, and the share it covers on the other half. "
                "Energies per atom per structure; a structure's force σ and force "
                "error are its atoms' aggregated as the row says, or every atom "
                "one value ('atoms'; the halves still split by structure). A flag "
                "marks σ that no longer ranks or sizes the errors.</p>"
                + table(header, rows, left=3)
            )
            section.append(calibration_curves_figure(page, finals[-1]))
    page.section("Data set").extend(composition_figure(store, page))
    page.section("Evolution outcomes").append(evolution_table(store, metrics))
    page.section("Uncertainty of the selected frames").append(
        sigma_figure(page, metrics)
    )
    page.section("Sampling diversity").extend(_diversity(store, page, metrics))
    path = Path(path)
    path.write_text(page.html())
    return path
