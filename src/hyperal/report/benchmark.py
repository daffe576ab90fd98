"""The benchmark page: which exploration reaches the lowest error on the
same frozen test sets for the fewest training oracle calls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from hyperal.benchmark.run import variant_run
from hyperal.models.checkpoint import damage
from hyperal.report.benchmark_tables import (
    fmt,
    per_set_tables,
    variant_curves,
    verdicts,
)
from hyperal.report.diversity import diversity_parts, motion_of
from hyperal.report.page import (
    Page,
    colour,
    integer_ticks,
    linestyle,
    log_if_positive,
    marker,
    table,
)
from hyperal.runs.query import Where
from hyperal.runs.records import Stage
from hyperal.runs.store import Store

#: Up to this many variants, each curve gets the band of its replicates.
BANDS = 3
PANELS = (
    ("difficult", "force_rmse_meV_A", "difficult set: force RMSE (meV/Å)"),
    ("gentle", "force_rmse_meV_A", "gentle set: force RMSE (meV/Å)"),
    ("difficult", "energy_rmse_meV_atom", "difficult set: energy RMSE (meV/atom)"),
    ("difficult", "angle_mae_deg", "difficult set: force angle θ_F MAE (°)"),
)


def _panels(rank_set: str):
    """The learning-curve panels: the ranking set's force and energy RMSE
    first when it is not the difficult set."""
    if rank_set == "difficult":
        return PANELS
    return (
        (rank_set, "force_rmse_meV_A", f"{rank_set} (ranking): force RMSE (meV/Å)"),
        (rank_set, "energy_rmse_meV_atom", f"{rank_set}: energy RMSE (meV/atom)"),
        PANELS[0],
        PANELS[1],
    )


def _curves(page, results, panels, caption, name):
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(11, 3.6 * rows), squeeze=False)
    variants = variant_curves(results)
    for ax, (split, key, label) in zip(axes.flat, panels, strict=False):
        for k, (variant, curves) in enumerate(variants.items()):
            x = np.mean([c.labels for c in curves], axis=0)
            ys = np.array([c.figure(split, key) for c in curves])
            if np.all(np.isnan(ys)):
                continue
            ax.plot(
                x,
                np.nanmean(ys, axis=0),
                marker=marker(k),
                color=colour(k),
                ls=linestyle(k),
                label=variant,
                lw=1.6,
                ms=5,
            )
            if len(curves) > 1 and len(variants) <= BANDS:
                ax.fill_between(
                    x,
                    np.nanmin(ys, axis=0),
                    np.nanmax(ys, axis=0),
                    color=colour(k),
                    alpha=0.12,
                    lw=0,
                )
        ax.set(xlabel="training oracle calls", ylabel=label)
        integer_ticks(ax)
        log_if_positive(ax)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    fig.set_layout_engine("constrained")
    return page.figure(fig, caption, name)


def _ratios(page, results):
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    ranked = results.ranking()
    fig, ax = plt.subplots(
        figsize=(8, 0.4 * len(ranked) + 1.2), constrained_layout=True
    )
    for k, s in enumerate(ranked):
        censored = s.to_target
        for ratio, bound in zip(censored.ratios, censored.bounds, strict=True):
            if ratio is None:  # beyond the budget: an arrow from its bound
                ax.plot(bound, k, ">", color=colour(k), mfc="none", ms=7)
            else:
                ax.plot(ratio, k, "o", color=colour(k), ms=5)
        median, bound = censored.median
        if np.isfinite(median):
            ax.plot([median, median], [k - 0.3, k + 0.3], color="k", lw=2)
        ax.text(
            1.02,
            k,
            censored.text(),
            va="center",
            fontsize=8,
            transform=ax.get_yaxis_transform(),
        )
    ax.axvline(1.0, color="k", lw=1)
    ax.axvline(0.7, color="k", lw=1, ls=":")
    ax.set_yticks(range(len(ranked)), [s.variant for s in ranked])
    ax.invert_yaxis()
    ax.set(
        xlabel=f"training oracle calls to reach {results.reference}'s final "
        f"{results.rank_set} force RMSE, relative to it"
    )
    return page.figure(
        fig,
        f"Oracle calls each variant needs to reach the reference variant "
        f"({results.reference})'s final {results.rank_set} force RMSE of the same "
        "replicate, as a ratio to the reference's calls (linear between loops): "
        "a dot per replicate that reached it, an open triangle at the budget for "
        "one that did not (censored: it needs more than its whole budget), the "
        "bar at the median (a censored replicate counts as larger than every "
        "reached one). Below 1 is cheaper; the dotted line marks 0.7.",
        "ratios",
    )


def _sigma(page, results):
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.4), constrained_layout=True)
    for k, s in enumerate(results.summaries):
        loops = np.arange(1, len(s.selected_sigma) + 1)
        ax.plot(
            loops, s.selected_sigma, marker=marker(k), color=colour(k), label=s.variant
        )
    ax.set(xlabel="loop", ylabel="mean σ_U of selected frames (eV)")
    integer_ticks(ax)
    log_if_positive(ax)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    return page.figure(
        fig,
        "Committee energy uncertainty σ_U of the frames each variant selected, "
        "mean per loop over replicates (random selection draws lower σ_U by "
        "design).",
        "sigma",
    )


def _diversity(page, bench, base) -> list[str]:
    """Per variant, the frames it selected (every replicate) through the
    reference variant's last committee of replicate 0, and its
    trajectories' motion."""

    store = Store(bench.store)
    names = [v.name for v in bench.variants]
    groups, motion = {}, {}
    for name in names:
        runs = [variant_run(r, name) for r in range(bench.replicates)]
        groups[name] = [
            a
            for a in store.labelled(split="train", runs=runs)
            if a.info.get("stage") == "selected"
        ]
        rows = [
            row
            for run in runs
            for row in store.rows(Where(stage=Stage.SELECTED, run=run))
        ]
        motion.update(motion_of(rows, lambda _, name=name: name))
    checkpoint = store.checkpoint_path(base.loops, variant_run(0, bench.reference))
    if damage(checkpoint):
        checkpoint = None
    parts = diversity_parts(
        page, groups, checkpoint, motion, "each scheme selected for labelling"
    )
    return parts or ["<p class=note>No selected frames yet.</p>"]


def setting_rows(bench, base) -> list[list]:
    """The first rows of a benchmark page's settings table: elements,
    oracle, replicates and their seeds."""
    seeds = ", ".join(str(base.seed + r) for r in range(bench.replicates))
    return [
        ["elements", ", ".join(base.system.elements)],
        ["oracle", f"{base.oracle.name} {json.dumps(base.oracle.kwargs)}"],
        ["replicates (seeds)", f"{bench.replicates} ({seeds})"],
    ]


def _setup_section(page: Page, results, bench, base) -> None:
    """What was run: the base campaign, the oracle calls, the variants."""
    setup = page.section("What was run")
    committee = base.committee.model_dump(mode="json")
    setup.append(
        table(
            ["setting", "value"],
            [
                *setting_rows(bench, base),
                ["loops", base.loops],
                [
                    "starts per loop",
                    f"{base.counts.derived_metal} derived metal, "
                    f"{base.counts.derived_oxide} derived oxide, {base.counts.random} "
                    f"random; {base.difficult_fraction:.0%} to the difficult set",
                ],
                [
                    "initial data",
                    f"{base.initial.structures} oracle relaxations of "
                    f"{base.initial.relax_steps} steps, "
                    f"{base.initial.train_fraction:.0%} train, rest gentle",
                ],
                ["committee", json.dumps(committee)],
                ["selection", json.dumps(base.selection.model_dump())],
                [
                    "oracle calls",
                    f"{results.total_oracle_calls} in all: "
                    f"{results.own_training_labels} variants' training labels + "
                    f"{results.shared_labels} shared (ratio {results.cost_ratio:.3f})",
                ],
            ],
            left=2,
        )
    )
    setup.append(
        table(
            ["variant", "scheme", "steps", "parameters", "selection"],
            [
                [
                    v.name,
                    v.scheme.full_name,
                    v.scheme.steps,
                    json.dumps(v.scheme.given_params),
                    json.dumps(v.declared.selection)
                    if v.declared.selection
                    else "campaign's",
                ]
                for v in bench.variants_of(base)
            ],
        )
    )


def _ranking_section(page: Page, results) -> None:
    """The variants ranked by their final error on the ranking set."""
    ranking = page.section("Ranking")
    ranking.append(
        "<p>Final errors of each variant's last committee on the frozen sets "
        "(mean ± sample standard deviation over replicates); training labels are the "
        "oracle calls spent on training data (the shared initial data plus the "
        "variant's selected frames; test sets are not counted). 'Largest rise' "
        f"is the largest increase of the mean {results.rank_set} force RMSE from one "
        "loop to the next; 'σ–error rank ρ' the Spearman correlation of the last "
        "committee's σ_U per atom with its true energy error per structure on the "
        "ranking set (1: σ ranks the errors perfectly); the RMS per-atom "
        "oracle force |F_i| of the labelled frames says how far from "
        "equilibrium a variant's labels lie.</p>"
    )
    rows = []
    for k, s in enumerate(results.ranking(), 1):
        mean, std = s.force_rmse
        rows.append(
            [
                k,
                s.variant,
                f"{mean:.1f} ± {std:.1f}",
                fmt(s._mean(s.final_gentle_force_rmse)),
                fmt(s._mean(s.final_energy_rmse)),
                f"{np.mean(s.final_labels):.1f}",
                s.to_target.text(),
                fmt(s._mean(s.mean_error_over_budget), 0),
                f"{100 * s.largest_rise:+.0f} %",
                fmt(s._mean(s.sigma_rank), 2),
                fmt(s.selected_force_rms, 2),
                s.selected_starts,
                s.oracle_failures,
                s.skipped,
                s.redundant,
            ]
        )
    ranking.append(
        table(
            [
                "#",
                "variant",
                f"{results.rank_set} F RMSE (meV/Å)",
                "gentle F RMSE (meV/Å)",
                f"{results.rank_set} E RMSE (meV/atom)",
                "training labels",
                f"calls to {results.reference}'s error (ratio)",
                "mean F RMSE over budget (meV/Å)",
                "largest rise",
                "σ–error rank ρ",
                "selected frames: RMS oracle force (eV/Å)",
                "selected frames that are the start",
                "oracle failures",
                "skipped starts",
                "redundant passed over",
            ],
            rows,
            left=2,
        )
    )
    ranking.append(f"<pre>{results.text()}</pre>")


def _curve_section(page: Page, results, bench) -> None:
    """Learning curves on the frozen sets, and their robust figures."""
    curves = page.section("Learning curves on the frozen test sets")
    curves.append(
        _curves(
            page,
            results,
            _panels(results.rank_set),
            "Errors of every loop's committee on the same frozen sets — the "
            f"ranking set ({results.rank_set}), the gentle set and the union of "
            "all loops' difficult sets — against the training "
            "oracle calls spent so far; lines are means over replicates (with up "
            f"to {BANDS} variants, bands span the replicates' minimum to maximum; "
            "the ranking table gives each variant's spread).",
            "curves",
        )
    )
    robust = [
        ("difficult", "force_median_meV_A", "difficult: median |ΔF| (meV/Å)"),
        ("difficult", "force_p95_meV_A", "difficult: 95th pct |ΔF| (meV/Å)"),
    ]
    for name in bench.test_sets:
        robust += [
            (name, "force_median_meV_A", f"{name}: median |ΔF| (meV/Å)"),
            (name, "force_p95_meV_A", f"{name}: 95th pct |ΔF| (meV/Å)"),
        ]
    if any("test_file" in f.tests for c in results.curves for f in c.final):
        robust += [
            ("test_file", "force_rmse_meV_A", "test file: force RMSE (meV/Å)"),
            ("test_file", "energy_rmse_meV_atom", "test file: energy RMSE (meV/atom)"),
        ]
    curves.append(
        _curves(
            page,
            results,
            robust,
            "Robust figures of the same curves: the median and 95th percentile of "
            "the absolute force-component errors, which one exploded structure "
            "cannot dominate (and the user's test file, when given).",
            "robust",
        )
    )


def write_benchmark_report(results, bench, base, path) -> Path:
    """Write the benchmark's self-contained HTML page to ``path``, and its
    learning-curve figure beside it as ``curves.svg``."""
    page = Page.about("hyperal benchmark", bench.store)
    _setup_section(page, results, bench, base)
    _ranking_section(page, results)
    page.section("Paired verdicts").extend(verdicts(results))
    _curve_section(page, results, bench)
    cost = page.section("Oracle calls to reach the reference error")
    cost.append(_ratios(page, results))
    types = page.section("Per structure type and force magnitude")
    types.append(
        "<p>Final force RMSE (meV/Å, mean over replicates) of each frozen set "
        "per structure type or stratum (with its structure count), then per bin "
        "of the atoms' reference force magnitude (with the atom count): which "
        "part of a set a variant gets right, separated from how far from "
        "equilibrium the set lies.</p>"
    )
    types.extend(per_set_tables(results))
    uncertainty = page.section("Uncertainty of the selected frames")
    uncertainty.append(_sigma(page, results))
    page.section("Sampling diversity").extend(_diversity(page, bench, base))
    path = Path(path)
    document = page.html()
    path.write_text(document)
    # the learning curves also as a file of their own (for a README or a paper)
    found = re.search(r"<figure id='fig-curves'>(<svg.*?</svg>)", document, re.S)
    if found:
        path.with_name("curves.svg").write_text(found[1])
    return path
