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

import json
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from hyperal.metrics import uncertainty_rank_correlation
from hyperal.report.page import Page, colour, log_if_positive, marker, table

SPLITS = ("gentle", "difficult")
QUANTITIES = (
    ("energy_rmse_meV_atom", "energy RMSE (meV/atom)"),
    ("force_rmse_meV_A", "force RMSE (meV/Å)"),
    ("angle_mae_deg", "force angle θ_F MAE (°)"),
)


def _summaries(entry, split):
    """Structure type -> ErrorSummary of ``entry`` (LoopMetrics or
    FinalErrors) on ``split``, ``all`` first."""
    errors = entry.tests.get(split)
    return {"all": errors.all, **errors.by_source} if errors else {}


def _curves(page, entries, xs, x_label, caption, name):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    lines = 0
    for ax, (key, label) in zip(axes, QUANTITIES, strict=True):
        k = 0
        for split, style in zip(SPLITS, ("-", "--"), strict=True):
            types = sorted({t for e in entries for t in _summaries(e, split)})
            types = (["all"] if "all" in types else []) + [
                t for t in types if t != "all"
            ]
            for t in types:
                pts = [
                    (x, getattr(_summaries(e, split)[t], key))
                    for x, e in zip(xs, entries, strict=True)
                    if t in _summaries(e, split)
                ]
                x, y = zip(*pts, strict=True)
                ax.plot(
                    x,
                    y,
                    style,
                    marker=marker(k),
                    color=colour(k),
                    ms=4,
                    lw=2.4 if t == "all" else 1.2,
                    label=f"{split}: {t}",
                )
                k += 1
        lines = max(lines, k)
        ax.set(xlabel=x_label, ylabel=label)
        log_if_positive(ax)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.set_layout_engine("constrained")
    return page.figure(fig, caption, name)


def _parity(page, finals):
    """Energy and force parity of every loop's committee (final sets)."""
    import matplotlib.pyplot as plt

    n = len(finals)
    fig, axes = plt.subplots(2, n, figsize=(2.9 * n + 1, 6.2), squeeze=False)
    for col, final in enumerate(finals):
        top, bottom = axes[0, col], axes[1, col]
        sources = sorted({s for e in final.tests.values() for s in e.parity.source})
        for split in SPLITS:
            errors = final.tests.get(split)
            if errors is None:
                continue
            parity = errors.parity
            for k, source in enumerate(sources):
                pick = [i for i, s in enumerate(parity.source) if s == source]
                if not pick:
                    continue
                top.scatter(
                    np.array(parity.energy_ref)[pick],
                    np.array(parity.energy_pred)[pick],
                    s=9,
                    color=colour(k),
                    marker="o" if split == "gentle" else "^",
                    label=f"{split}: {source}",
                    alpha=0.8,
                )
        refs = np.concatenate([e.parity.force_ref for e in final.tests.values()])
        preds = np.concatenate([e.parity.force_pred for e in final.tests.values()])
        if len(refs):
            lim = float(np.percentile(np.abs(np.concatenate([refs, preds])), 99.5))
            lim = lim or 1.0
            bottom.hexbin(
                refs,
                preds,
                gridsize=30,
                bins="log",
                cmap="viridis",
                extent=(-lim, lim, -lim, lim),
                mincnt=1,
            )
            bottom.plot([-lim, lim], [-lim, lim], "k:", lw=1)
            bottom.set(xlim=(-lim, lim), ylim=(-lim, lim))
        lo = min(top.get_xlim()[0], top.get_ylim()[0])
        hi = max(top.get_xlim()[1], top.get_ylim()[1])
        top.plot([lo, hi], [lo, hi], "k:", lw=1)
        top.set(xlim=(lo, hi), ylim=(lo, hi), title=f"loop {final.loop}")
        text = "\n".join(
            f"{split} E {e.all.energy_rmse_meV_atom:.0f} meV/at, "
            f"F {e.all.force_rmse_meV_A:.0f} meV/Å"
            for split, e in final.tests.items()
        )
        bottom.text(
            0.03, 0.97, text, transform=bottom.transAxes, va="top", fontsize=6.5
        )
        for ax in (top, bottom):
            ax.set_aspect("equal", adjustable="box")
            ax.tick_params(labelsize=7)
        top.set_xlabel("oracle E (eV/atom)", fontsize=8)
        bottom.set_xlabel("oracle F component (eV/Å)", fontsize=8)
        if col == 0:
            top.set_ylabel("committee E (eV/atom)", fontsize=8)
            bottom.set_ylabel("committee F (eV/Å)", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            fontsize=7,
            ncols=min(4, len(labels)),
        )
    fig.set_layout_engine("constrained")
    return page.figure(
        fig,
        "Parity of every loop's committee on the final frozen sets: energies per "
        "structure (top; colour = structure type, circles gentle, triangles "
        "difficult) and a seeded random sample of force components as a density "
        "(bottom, log colour scale); RMSE in each panel. Dotted: y = x.",
        "parity",
    )


def _calibration(page, final):
    """σ_U per atom against the true energy error per structure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    notes = []
    for k, split in enumerate(SPLITS):
        errors = final.tests.get(split)
        if errors is None:
            continue
        p = errors.parity
        n = len(p.sigma)
        if n == 0 or len(p.energy_ref) != n:
            continue
        err = 1e3 * np.abs(np.array(p.energy_pred) - np.array(p.energy_ref))
        natoms = np.array(p.natoms) if len(p.natoms) == n else np.ones(n)
        sigma = 1e3 * np.array(p.sigma) / natoms  # per atom, like the error
        ax.scatter(sigma, err, s=10, color=colour(k), marker=marker(k), label=split)
        rho = uncertainty_rank_correlation(sigma, err)  # NaN for n < 3
        notes.append(
            f"{split}: Spearman ρ = "
            + (f"{rho:.2f}" if math.isfinite(rho) else "– (too few)")
            + f" (n = {n})"
        )
    ax.set(xlabel="committee σ_U per atom (meV/atom)", ylabel="|E error| (meV/atom)")
    for axis in ("x", "y"):
        values = (
            np.concatenate(
                [c.get_offsets()[:, 0 if axis == "x" else 1] for c in ax.collections]
            )
            if ax.collections
            else []
        )
        if len(values) and np.min(values) > 0:
            getattr(ax, f"set_{axis}scale")("log")
    if ax.collections:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.set_layout_engine("constrained")
    return page.figure(
        fig,
        f"Does the committee know where it is wrong? Energy uncertainty σ_U of "
        f"loop {final.loop}'s committee against its true energy error, per test "
        "structure; " + "; ".join(notes) + " (rank correlation: 1 = σ orders the "
        "errors perfectly).",
        "calibration",
    )


def calibration_rows(finals) -> tuple[list[str], list[list[str]]]:
    """Per loop, test set and quantity: how well σ predicts the true error
    (:mod:`hyperal.committee.calibration`), and a flag when it does not."""
    header = [
        "loop",
        "set",
        "quantity",
        "n",
        "Spearman ρ",
        "miscalibration area",
        "conformal factor",
        "held-out coverage",
        "flag",
    ]
    rows = []
    for final in finals:
        for split in SPLITS:
            errors = final.tests.get(split)
            for c in (errors.calibration if errors else {}).values():
                rows.append(
                    [
                        final.loop,
                        split,
                        f"{c.quantity} ({c.aggregate})",
                        c.count,
                        "–"
                        if c.rank_correlation is None
                        else f"{c.rank_correlation:.2f}",
                        f"{c.miscalibration_area:.3f}",
                        f"{c.factor:.3g}",
                        "–" if c.coverage is None else f"{c.coverage:.1%}",
                        c.flag() or "ok",
                    ]
                )
    return header, rows


def _calibration_curves(page, final):
    """Binned RMS σ against the RMSE observed in each bin, energy and force,
    per test set, for one loop's committee."""
    import matplotlib.pyplot as plt

    found = {
        (split, q): c
        for split in SPLITS
        if final.tests.get(split) is not None
        for q, c in final.tests[split].calibration.items()
    }
    if not found:
        return ""
    quantities = [
        q for q in ("energy", "force", "force_atoms") if any(k[1] == q for k in found)
    ]
    fig, axes = plt.subplots(
        1, len(quantities), figsize=(3.6 * len(quantities), 3.8), squeeze=False
    )
    notes = []
    for ax, quantity in zip(axes[0], quantities, strict=True):
        top = 0.0
        for k, split in enumerate(SPLITS):
            c = found.get((split, quantity))
            if c is None:
                continue
            ax.plot(
                c.curve_sigma,
                c.curve_rmse,
                marker=marker(k),
                color=colour(k),
                label=f"{split} (n = {c.count})",
            )
            if np.isfinite(c.factor):
                ax.plot(
                    [c.factor * x for x in c.curve_sigma],
                    c.curve_rmse,
                    ls=":",
                    color=colour(k),
                    label=f"{split}, σ × {c.factor:.3g} (conformal)",
                )
            top = max(top, *c.curve_rmse, *c.curve_sigma)
            notes.append(
                f"{split} {quantity}: area {c.miscalibration_area:.2f}, factor "
                f"{c.factor:.3g}, held-out coverage "
                + ("–" if c.coverage is None else f"{c.coverage:.0%}")
            )
            unit, how = c.unit, c.aggregate
        ax.plot([0, top], [0, top], color="0.5", lw=0.8, ls="--")
        ax.set(
            xlabel=f"RMS σ in bin ({unit})",
            ylabel=f"RMSE in bin ({unit})",
            title=(
                "energy per atom"
                if quantity == "energy"
                else "force per atom"
                if how == "atoms"
                else f"force ({how} over atoms)"
            ),
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.set_layout_engine("constrained")
    return page.figure(
        fig,
        f"Calibration curves of loop {final.loop}'s committee: test structures "
        "sorted by σ into equal-count bins, each bin's RMS σ against the RMSE "
        "there (dashed: calibrated, σ equal to the RMSE); dotted: σ scaled by the "
        "split-conformal factor fitted on half of the set. " + "; ".join(notes) + ".",
        "calibration-curves",
    )


def _composition(store, page):
    """Counts per loop, source and split; distributions train vs test."""
    import matplotlib.pyplot as plt

    counts = Counter()
    for row in store.db.select(oracle_status="ok", run="main"):
        counts[(row.get("loop", 0), row.get("source", "?"), row.split)] += 1
    rows = [
        [loop, source, split, n] for (loop, source, split), n in sorted(counts.items())
    ]
    parts = [
        "<p>Labelled structures per loop, structure type and split.</p>",
        table(["loop", "structure type", "split", "structures"], rows, left=3),
    ]
    sets = {s: store.labelled(split=s, runs=["main"]) for s in ("train", *SPLITS)}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for k, (split, images) in enumerate(sets.items()):
        if not images:
            continue
        energy = [a.get_potential_energy() / len(a) for a in images]
        force = [np.abs(a.get_forces()).max() for a in images]
        distance = []
        for a in images:
            d = a.get_all_distances(mic=True)
            distance.append(
                d[np.triu_indices(len(a), 1)].min() if len(a) > 1 else np.nan
            )
        for ax, values in zip(axes, (energy, force, distance), strict=True):
            ax.hist(
                values,
                bins=25,
                histtype="step",
                lw=1.6,
                color=colour(k),
                label=f"{split} ({len(images)})",
                density=True,
            )
    for ax, label in zip(
        axes,
        (
            "energy per atom (eV/atom)",
            "max |F| component (eV/Å)",
            "shortest distance (Å)",
        ),
        strict=True,
    ):
        ax.set(xlabel=label, ylabel="density")
    axes[0].legend(fontsize=8)
    fig.set_layout_engine("constrained")
    parts.append(
        page.figure(
            fig,
            "Distributions of the training, gentle and difficult structures: energy "
            "per atom, largest force component and shortest interatomic distance "
            "(normalised histograms). Test structures far outside the training "
            "distribution are where errors are largest.",
            "composition",
        )
    )
    return parts


def _evolution(store, metrics) -> str:
    rows = []
    for m in metrics[1:]:
        reasons = Counter()
        for row in store.db.select(
            stage="selected", loop=m.loop, run="main", oracle_status="skipped"
        ):
            reason = row.get("oracle_reason", "")
            reasons[reason.split(":")[0].split("(")[0].strip()[:60]] += 1
        rows.append(
            [
                m.loop,
                ", ".join(f"{k}: {v}" for k, v in sorted(m.evolution.items())) or "–",
                m.n_selected,
                m.n_skipped,
                m.n_redundant,
                "; ".join(f"{k} ×{v}" for k, v in reasons.items()) or "–",
            ]
        )
    return (
        "<p>How each loop's evolutions ended, how many gave a selected frame, "
        "how many candidates the redundancy filter passed over, and why starts "
        "gave no frame.</p>"
        + table(
            [
                "loop",
                "evolution outcomes",
                "selected",
                "skipped",
                "redundant passed over",
                "skip reasons",
            ],
            rows,
            left=0,
        )
    )


def _alpha(finals) -> float:
    for final in finals:
        for errors in final.tests.values():
            for c in errors.calibration.values():
                return c.alpha
    return 0.05


def energy_factors(metrics) -> dict[int, float]:
    """Per loop, the split-conformal factor of its committee's energy σ on
    the difficult structures (the gentle set when none): what the σ of
    the frames that committee selects next is scaled by."""
    found = {m.loop: m.conformal("energy") for m in metrics}
    return {loop: pair[1].factor for loop, pair in found.items() if pair is not None}


def _sigma(page, metrics):
    import matplotlib.pyplot as plt

    factors = energy_factors(metrics)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    scaled = []
    for k, m in enumerate(metrics):
        if m.selected_sigma:
            q = factors.get(m.loop - 1)  # the committee that chose them
            if q is not None:
                scaled.append(f"loop {m.loop} × {q:.3g}")
            ax.hist(
                np.array(m.selected_sigma) * (q or 1.0),
                bins=20,
                histtype="step",
                lw=1.5,
                color=colour(k),
                label=f"loop {m.loop}" + ("" if q is None else " (calibrated)"),
            )
    ax.set(
        xlabel="σ_U of the selected frames (eV)"
        + (", conformally calibrated" if scaled else ""),
        ylabel="frames",
    )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.set_layout_engine("constrained")
    return page.figure(
        fig,
        "Committee energy uncertainty σ_U of the frames selected for labelling, "
        "per loop"
        + (
            ", scaled by the split-conformal factor of the committee that selected "
            "them (fitted on its difficult-set errors): " + ", ".join(scaled) + "."
            if scaled
            else "."
        ),
        "sigma",
    )


#: Columns of the per-loop summary (report table and ``hyperal status``).
SUMMARY_COLUMNS = (
    "loop",
    "oracle calls",
    "failures",
    "train",
    "selected/skipped/redundant",
    "fit",
    "gentle E (meV/atom)",
    "gentle F (meV/Å)",
    "difficult E (meV/atom)",
    "difficult F (meV/Å)",
    "difficult θ_F (°)",
)


def _fit_cell(fit) -> str:
    """How the loop's committee was fitted: warm or cold, epochs, seconds."""
    if fit is None:
        return "–"
    kind = "warm" if fit.warm_started else "cold"
    return f"{fit.backend} {kind} {fit.epochs} ep {fit.wall_s:.0f} s"


def summary_rows(metrics) -> list[list[str]]:
    """One row of text cells per loop, in :data:`SUMMARY_COLUMNS` order."""

    def cell(stats, key, digits=1):
        return "–" if stats is None else f"{getattr(stats, key):.{digits}f}"

    rows = []
    for m in metrics:
        g, d = m.errors("gentle"), m.errors("difficult")
        rows.append(
            [
                str(m.loop),
                str(m.oracle_calls),
                str(m.oracle_failures),
                str(m.n_train),
                f"{m.n_selected}/{m.n_skipped}/{m.n_redundant}",
                _fit_cell(m.fit),
                cell(g, "energy_rmse_meV_atom"),
                cell(g, "force_rmse_meV_A", 0),
                cell(d, "energy_rmse_meV_atom"),
                cell(d, "force_rmse_meV_A", 0),
                cell(d, "angle_mae_deg"),
            ]
        )
    return rows


def final_rows(finals) -> tuple[list[str], list[list[str]]]:
    """Header and rows of every loop's force RMSE (meV/Å) on the final frozen
    sets: each set overall, then per structure type."""
    columns = []
    for split in SPLITS:
        types = sorted({t for f in finals for t in _summaries(f, split)} - {"all"})
        columns += [(split, "all"), *((split, t) for t in types)]
    header = ["loop"] + [f"{s} {t}" for s, t in columns]
    rows = []
    for f in finals:
        row = [str(f.loop)]
        for split, t in columns:
            found = _summaries(f, split).get(t)
            row.append("–" if found is None else f"{found.force_rmse_meV_A:.0f}")
        rows.append(row)
    return header, rows


def _table(metrics) -> str:
    return table(SUMMARY_COLUMNS, summary_rows(metrics), left=0)


def stop_line(store, run: str = "main") -> str:
    """Why the campaign ended: its early stop, or its ``loops``; with a
    force-σ target, how many of the last loop's selected frames were
    predicted above it."""
    from hyperal.campaign.stopping import predicted, stopped

    left = predicted(store, run)
    worth = ""
    if left:
        last = left[-1]
        worth = (
            f"; loop {last['loop']}: {last['above']} of {last['frames']} "
            "selected frames had a predicted force error (calibrated σ) at or "
            f"above {last['target_eV_A']:g} eV/Å"
        )
    found = stopped(store, run)
    if found:
        return f"stopped early after loop {found['loop']}: {found['reason']}{worth}"
    settings = store.setting("campaign") or {}
    metrics = store.metrics(run)
    loops = settings.get("loops")
    if not metrics:
        calls = store.oracle_calls(run=run)
        failed = store.count(oracle_status="failed", run=run)
        return (
            f"no loop finished yet: {calls} oracle call(s), {failed} failed "
            "(reasons below); `hyperal run` continues the campaign"
        )
    if loops is not None and metrics[-1].loop < loops:
        return (
            f"ran {metrics[-1].loop} of {loops} loops; `hyperal run` continues "
            "the campaign"
        )
    rule = settings.get("stop") or {}
    criteria = [k for k in ("improvement", "force_sigma_eV_A") if rule.get(k)]
    if criteria:
        return (
            f"no stopping criterion met ({', '.join(criteria)}): ran every loop{worth}"
        )
    return "no stopping rule: ran every loop"


def _setup(store, metrics) -> str:
    import hyperal

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
    oracle_s = sum(
        row.get("oracle_seconds", 0.0)
        for row in store.db.select("oracle_seconds>0", run="main")
    )
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
            f"oracle {oracle_s:.0f} s (older stores did not time loop 0), "
            f"fits {fit_s:.0f} s",
        ],
    ]
    return table(["setting", "value"], rows, left=2)


def _diversity(store, page, metrics) -> list[str]:
    """The training data by where it came from — the initial relaxations and
    the selected frames per start type — and the difficult test set, through
    the last committee's features; the trajectories' motion per start type."""
    from hyperal.models.checkpoint import damage
    from hyperal.report.diversity import diversity_parts, motion_of

    groups: dict[str, list] = {}
    for atoms in store.labelled(split="train", runs=["main"]):
        stage = atoms.info.get("stage")
        name = (
            "initial relaxations"
            if stage == "initial"
            else f"selected · {atoms.info.get('source', '?')}"
        )
        groups.setdefault(name, []).append(atoms)
    groups["difficult test set"] = store.labelled(split="difficult", runs=["main"])
    checkpoint = store.checkpoint_path(metrics[-1].loop)
    if damage(checkpoint):
        checkpoint = None
    motion = motion_of(
        store.rows(stage="selected", run="main"),
        lambda row: f"{row.get('scheme', '?')} · {row.get('source', '?')}",
    )
    parts = diversity_parts(page, groups, checkpoint, motion, "of each origin")
    return parts or ["<p class=note>No structures to compare yet.</p>"]


def write_report(store, path: str | Path) -> Path:
    """Write the HTML report of the campaign in ``store`` to ``path``."""
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
    summary.append(_table(metrics))
    curves = page.section("Learning curves on the final frozen sets")
    if finals:
        header, rows = final_rows(finals)
        curves.append(
            "<p>Force RMSE (meV/Å) of every loop's committee on the final frozen "
            "sets, overall and per structure type.</p>" + table(header, rows, left=0)
        )
        calls = {m.loop: m.oracle_calls for m in metrics}
        curves.append(
            _curves(
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
            _curves(
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
        _curves(
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
        page.section("Parity, every loop").append(_parity(page, finals))
        section = page.section("Uncertainty against error")
        section.append(_calibration(page, finals[-1]))
        header, rows = calibration_rows(finals)
        if rows:
            section.append(
                "<p>Is σ calibrated? Per loop's committee on the final frozen sets: "
                "the rank correlation of σ and the true error; the miscalibration "
                "area (reading σ as a normal standard deviation: 0 calibrated, 0.5 "
                "worst); the split-conformal factor q fitted on a seeded half of "
                f"the set so that |error| ≤ q·σ covers {1 - _alpha(finals):.0%} "
                "of new structures, and the share it covers on the other half. "
                "Energies per atom per structure; a structure's force σ and force "
                "error are its atoms' aggregated as the row says, or every atom "
                "one value ('atoms'; the halves still split by structure). A flag "
                "marks σ that no longer ranks or sizes the errors.</p>"
                + table(header, rows, left=3)
            )
            section.append(_calibration_curves(page, finals[-1]))
    page.section("Data set").extend(_composition(store, page))
    page.section("Evolution outcomes").append(_evolution(store, metrics))
    page.section("Uncertainty of the selected frames").append(_sigma(page, metrics))
    page.section("Sampling diversity").extend(_diversity(store, page, metrics))
    path = Path(path)
    path.write_text(page.html())
    return path


__all__ = ["SUMMARY_COLUMNS", "final_rows", "summary_rows", "write_report"]
