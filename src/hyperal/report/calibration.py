"""The campaign report's calibration figures and table: σ against the true
error per structure, calibration curves, and the conformal factor per loop
and set."""

from __future__ import annotations

import math

import numpy as np

from hyperal.metrics import uncertainty_rank_correlation
from hyperal.report.figures import SPLITS
from hyperal.report.page import SPLIT_MARKERS, split_colour


def calibration_figure(page, final):
    """σ_U per atom against the true energy error per structure."""
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    notes = []
    for split in SPLITS:
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
        ax.scatter(
            sigma,
            err,
            s=10,
            color=split_colour(split),
            marker=SPLIT_MARKERS[split],
            label=split,
        )
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


def calibration_rows(finals) -> tuple[list[str], list[list[str]], str]:
    """Per loop, test set and quantity: how well σ predicts the true error
    (:mod:`hyperal.committee.calibration`), and a flag when it does not;
    and a note on the rows left out because they say nothing — a set too
    small for a conformal factor at the chosen coverage, whose factor and
    coverage would read "inf" and "–" ("" when none is)."""
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
    small: list[int] = []
    for final in finals:
        for split in SPLITS:
            errors = final.tests.get(split)
            for c in (errors.calibration if errors else {}).values():
                if not math.isfinite(c.factor) and max(c.curve_sigma, default=0) > 0:
                    small.append(c.count - c.held_out)
                    continue
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
    note = ""
    if small:
        alpha = calibration_alpha(finals)
        note = (
            f"{len(small)} row(s) left out: their calibration halves hold "
            f"{min(small)}–{max(small)} structures, fewer than the "
            f"{math.ceil(1 / alpha) - 1} a factor covering {1 - alpha:.0%} needs "
            "(a larger test set gives them)."
        )
    return header, rows, note


def calibration_curves_figure(page, final):
    """Binned RMS σ against the RMSE observed in each bin, energy and force,
    per test set, for one loop's committee."""
    # lazy: matplotlib loads only when a figure is drawn
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
        for split in SPLITS:
            c = found.get((split, quantity))
            if c is None:
                continue
            ax.plot(
                c.curve_sigma,
                c.curve_rmse,
                marker=SPLIT_MARKERS[split],
                color=split_colour(split),
                label=f"{split} (n = {c.count})",
            )
            if np.isfinite(c.factor):
                ax.plot(
                    [c.factor * x for x in c.curve_sigma],
                    c.curve_rmse,
                    ls=":",
                    color=split_colour(split),
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


def calibration_alpha(finals) -> float:
    for final in finals:
        for errors in final.tests.values():
            for c in errors.calibration.values():
                return c.alpha
    return 0.05
