"""The campaign report's figures, each drawn from what the store holds:
learning curves, parity plots, σ against the true error and its
calibration, the data set's composition, evolution outcomes and the
uncertainty of the selected frames.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from hyperal.report.page import (
    SPLIT_MARKERS,
    integer_ticks,
    log_if_positive,
    loop_colour,
    split_colour,
    table,
    type_colour,
)
from hyperal.runs.query import Where
from hyperal.runs.records import MAIN_RUN, OracleStatus, Stage

SPLITS = ("gentle", "difficult")


QUANTITIES = (
    ("energy_rmse_meV_atom", "energy RMSE (meV/atom)"),
    ("force_rmse_meV_A", "force RMSE (meV/Å)"),
    ("angle_mae_deg", "force angle θ_F MAE (°)"),
)


def summaries_of(entry, split):
    """Structure type -> ErrorSummary of ``entry`` (LoopMetrics or
    FinalErrors) on ``split``, ``all`` first."""
    errors = entry.tests.get(split)
    return {"all": errors.all, **errors.by_source} if errors else {}


def curves_figure(page, entries, xs, x_label, caption, name):
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (key, label) in zip(axes, QUANTITIES, strict=True):
        for split, style in zip(SPLITS, ("-", "--"), strict=True):
            types = sorted({t for e in entries for t in summaries_of(e, split)})
            types = (["all"] if "all" in types else []) + [
                t for t in types if t != "all"
            ]
            drawn: dict[tuple, object] = {}
            for t in types:
                pts = tuple(
                    (x, getattr(summaries_of(e, split)[t], key))
                    for x, e in zip(xs, entries, strict=True)
                    if t in summaries_of(e, split)
                )
                if pts in drawn:  # one structure type: its line is "all"'s
                    line = drawn[pts]
                    line.set_label(f"{line.get_label()} = {t}")
                    continue
                x, y = zip(*pts, strict=True)
                (drawn[pts],) = ax.plot(
                    x,
                    y,
                    style,
                    marker=SPLIT_MARKERS[split],
                    color=type_colour(t),
                    ms=4,
                    lw=2.4 if t == "all" else 1.2,
                    label=f"{split}: {t}",
                )
        ax.set(xlabel=x_label, ylabel=label)
        integer_ticks(ax)
        log_if_positive(ax)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.set_layout_engine("constrained")
    return page.figure(fig, caption, name)


def parity_figure(page, finals):
    """Energy and force parity of every loop's committee (final sets): a row
    of energies per test set (each on its own axes, so a narrow gentle set
    is not squeezed into the corner of a wide difficult one), then the force
    components as a density; every axis holds every point."""
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    n = len(finals)
    splits = [s for s in SPLITS if any(s in f.tests for f in finals)]
    rows = len(splits) + 1
    fig, axes = plt.subplots(
        rows, n, figsize=(2.9 * n + 1, 3.0 * rows + 0.4), squeeze=False
    )
    bins = []
    for col, final in enumerate(finals):
        for row, split in enumerate(splits):
            _energy_parity(axes[row, col], final.tests.get(split), split)
            axes[row, col].set_title(f"loop {final.loop} · {split}", fontsize=8)
        bottom = axes[-1, col]
        refs = np.concatenate([e.parity.force_ref for e in final.tests.values()])
        preds = np.concatenate([e.parity.force_pred for e in final.tests.values()])
        if len(refs):
            # every component drawn: the largest errors set the quoted RMSE;
            # the frame is one hexagon wider than the farthest point, so the
            # outermost hexagons are drawn whole
            lim = float(np.max(np.abs(np.concatenate([refs, preds])))) or 1.0
            gridsize = 30
            frame = lim * (1 + 2.0 / gridsize)
            bins.append(
                bottom.hexbin(
                    refs,
                    preds,
                    gridsize=gridsize,
                    norm=LogNorm(),
                    cmap="viridis",
                    extent=(-lim, lim, -lim, lim),
                    mincnt=1,
                )
            )
            bottom.plot([-frame, frame], [-frame, frame], "k:", lw=1)
            bottom.set(xlim=(-frame, frame), ylim=(-frame, frame))
        text = "\n".join(
            f"{split} E {e.all.energy_rmse_meV_atom:.0f} meV/at, "
            f"F {e.all.force_rmse_meV_A:.0f} meV/Å"
            for split, e in final.tests.items()
        )
        bottom.text(
            0.03, 0.97, text, transform=bottom.transAxes, va="top", fontsize=6.5
        )
        bottom.set_aspect("equal", adjustable="box")
        bottom.tick_params(labelsize=7)
        bottom.set_xlabel("oracle F component (eV/Å)", fontsize=8)
        if col == 0:
            for row in range(len(splits)):
                axes[row, 0].set_ylabel("committee E (eV/atom)", fontsize=8)
            bottom.set_ylabel("committee F (eV/Å)", fontsize=8)
    if bins:  # one colour scale for every loop's panel
        most = max(float(np.ma.max(b.get_array())) for b in bins if b.get_array().size)
        for b in bins:
            b.set_clim(1, max(most, 2.0))
        bar = fig.colorbar(bins[0], ax=list(axes[-1]), shrink=0.8, pad=0.02)
        bar.set_label("force components per hexagon", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    legend: dict[str, object] = {}
    for ax in axes[:-1].ravel():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    if legend:
        fig.legend(
            list(legend.values()),
            list(legend),
            loc="outside lower center",
            fontsize=7,
            ncols=min(4, len(legend)),
        )
    fig.set_layout_engine("constrained")
    return page.figure(
        fig,
        "Parity of every loop's committee on the final frozen sets: energies per "
        "structure, one row per test set (colour = structure type, the same in "
        "every figure; circles gentle, triangles difficult), and every force "
        "component as a density (bottom row, log colour scale shared by the "
        "loops); RMSE in each bottom panel. Every axis holds all its points. "
        "Dotted: y = x.",
        "parity",
    )


def _energy_parity(ax, errors, split: str) -> None:
    """One set's energies per structure, coloured by structure type, on
    square axes that hold every point (with a margin)."""
    if errors is None or not len(errors.parity.energy_ref):
        ax.set_axis_off()
        return
    parity = errors.parity
    ref, pred = np.array(parity.energy_ref), np.array(parity.energy_pred)
    for source in sorted(set(parity.source)):
        pick = [i for i, s in enumerate(parity.source) if s == source]
        ax.scatter(
            ref[pick],
            pred[pick],
            s=9,
            color=type_colour(source),
            marker=SPLIT_MARKERS[split],
            label=f"{split}: {source}",
            alpha=0.8,
        )
    lo = float(min(ref.min(), pred.min()))
    hi = float(max(ref.max(), pred.max()))
    margin = 0.05 * (hi - lo) or 0.01
    lo, hi = lo - margin, hi + margin
    ax.plot([lo, hi], [lo, hi], "k:", lw=1)
    ax.set(xlim=(lo, hi), ylim=(lo, hi))
    ax.set_aspect("equal", adjustable="box")
    ax.tick_params(labelsize=7)
    ax.set_xlabel("oracle E (eV/atom)", fontsize=8)


def composition_figure(store, page):
    """Counts per loop, source and split; distributions train vs test."""
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    counts = Counter()
    for row in store.rows(Where(status=OracleStatus.OK, run=MAIN_RUN)):
        counts[(row.get("loop", 0), row.get("source", "?"), row.split)] += 1
    rows = [
        [loop, source, split, n] for (loop, source, split), n in sorted(counts.items())
    ]
    parts = [
        "<p>Labelled structures per loop, structure type and split.</p>",
        table(["loop", "structure type", "split", "structures"], rows, left=3),
    ]
    sets = {s: store.labelled(split=s, runs=[MAIN_RUN]) for s in ("train", *SPLITS)}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for split, images in sets.items():
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
                color=split_colour(split),
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


def evolution_table(store, metrics) -> str:
    rows = []
    for m in metrics[1:]:
        reasons = Counter()
        for row in store.rows(
            Where(
                stage=Stage.SELECTED,
                loop=m.loop,
                run=MAIN_RUN,
                status=OracleStatus.SKIPPED,
            )
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


def energy_factors(metrics) -> dict[int, float]:
    """Per loop, the split-conformal factor of its committee's energy σ on
    the difficult structures (the gentle set when none): what the σ of
    the frames that committee selects next is scaled by."""
    found = {m.loop: m.conformal("energy") for m in metrics}
    return {loop: pair[1].factor for loop, pair in found.items() if pair is not None}


def sigma_figure(page, metrics):
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    factors = energy_factors(metrics)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    scaled = []
    for m in metrics:
        if m.selected_sigma:
            q = factors.get(m.loop - 1)  # the committee that chose them
            if q is not None:
                scaled.append(f"loop {m.loop} × {q:.3g}")
            ax.hist(
                np.array(m.selected_sigma) * (q or 1.0),
                bins=20,
                histtype="step",
                lw=1.5,
                color=loop_colour(m.loop, metrics[-1].loop),
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
