"""The barrier campaign's report: one self-contained HTML page and CSV files.

Per loop: oracle calls and atoms, training size, triage counts, errors on
the proximal-saddle and random sets, the random-set barrier RMSE; the
learning curve of the barrier error against oracle calls and atoms; the cost
and errors per cell size; the barriers of the random hops, committee against
oracle (parity), and their distributions per hop type and hopping species.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hyperal.barriers.learn import RUN, barrier_metrics
from hyperal.barriers.records import BarrierSplit, HopWhere
from hyperal.barriers.statistics import interval_text
from hyperal.report.page import Page, colour, integer_ticks, marker, table
from hyperal.utils import write_csv

COLUMNS = [
    "loop",
    "oracle calls",
    "oracle atoms",
    "train",
    "artifactual",
    "energy",
    "proximal",
    "barrier off",
    "instability",
    "collapse",
    "blocked",
    "proximal F RMSE (meV/Å)",
    "random E RMSE (meV/atom)",
    "random F RMSE (meV/Å)",
    "tail F RMSE (meV/Å)",
    "barrier RMSE (meV) [95 % CI]",
]


def loop_rows(metrics) -> list[list[str]]:
    """The per-loop table (the status table, the report's and the CSV's)."""

    def figure(m, split, key, fmt):
        errors = m.errors(split)
        return "–" if errors is None else format(getattr(errors, key), fmt)

    return [
        [
            str(m.loop),
            str(m.oracle_calls),
            str(m.oracle_atoms),
            str(m.n_train),
            *(
                str(m.counts.get(k, 0))
                for k in (
                    "artifactual",
                    "energy",
                    "proximal",
                    "barrier_off",
                    "instability",
                    "collapse",
                    "blocked",
                )
            ),
            figure(m, "proximal", "force_rmse_meV_A", ".0f"),
            figure(m, "random", "energy_rmse_meV_atom", ".1f"),
            figure(m, "random", "force_rmse_meV_A", ".0f"),
            figure(m, "tail", "force_rmse_meV_A", ".0f"),
            m.barrier_text(),
        ]
        for m in metrics
    ]


def hop_table(metrics) -> tuple[list[str], list[list[str]]]:
    """Header and rows: the random-set barrier errors per hop type and
    hopping species, at the first and the last loop (the status command's
    second table and the report's)."""
    first, last = metrics[0], metrics[-1]
    header = [
        "hop: hopping species",
        "hops",
        f"committee found (loop {last.loop})",
        f"RMSE loop {first.loop} (meV)",
        f"RMSE loop {last.loop} (meV)",
        f"mean error loop {last.loop} (meV)",
    ]
    rows = [
        [
            group,
            str(errors.hops),
            str(errors.found),
            interval_text(first.barrier_by_hop.get(group)),
            interval_text(errors),
            _figure(errors.mean_error_meV, "+.0f"),
        ]
        for group, errors in last.barrier_by_hop.items()
    ]
    return header, rows


def _figure(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def random_hops(store) -> list[tuple[str, str, str]]:
    """(hop type, hopping species, cell size) of each hop of the random set,
    in its order."""

    random = store.rows(
        HopWhere(run=RUN, loop=0, point="saddle", split=BarrierSplit.RANDOM)
    )
    return [
        (r.get("hop", ""), r.get("hopping", ""), r.get("cell_size", "")) for r in random
    ]


def barrier_table(hops, metrics) -> tuple[list[str], list[list]]:
    """Header and rows of ``barriers.csv``: every random hop's oracle barrier
    and the committee's (or why it gave none), per loop; ``hops`` as
    :func:`random_hops` gives them."""
    header = ["index", "hop", "hopping", "cell_size", "loop", "oracle_eV", "mlip_eV"]
    rows = []
    for m in metrics:
        reasons = m.barrier_mlip_reason or [""] * len(m.barrier_oracle)
        for k, (o, b) in enumerate(zip(m.barrier_oracle, m.barrier_mlip, strict=True)):
            mlip = "" if b is None else f"{b:.5f}"
            rows.append([k, *hops[k], m.loop, f"{o:.5f}", mlip, reasons[k]])
    return [*header, "mlip_untrusted_because"], rows


def _setup_section(page: Page, config) -> None:
    """What was run: the campaign file's settings."""
    setup = page.section("What was run")
    setup.append(
        table(
            ["setting", "value"],
            [
                ["elements", ", ".join(config.system.elements)],
                [
                    "hops",
                    ", ".join(
                        f"{h.case} (a = {h.a or 'default'} Å)" for h in config.hops
                    ),
                ],
                [
                    "cells",
                    ", ".join("×".join(map(str, s)) for s in config.cells.sizes)
                    + (
                        f"; strained: linear {list(config.cells.linear_strain)}, "
                        f"von Mises {list(config.cells.von_mises_strain)}"
                        if config.cells.strain
                        else ""
                    ),
                ],
                ["environments", config.environments],
                [
                    "loop 0",
                    f"{config.initial.train} training hops, "
                    f"{config.initial.random_set} random hops (oracle searches)"
                    + (
                        f"; labels and committee from {source.store} (run {source.run})"
                        if (source := config.initial.from_campaign)
                        else ""
                    ),
                ],
                ["committee searches per loop", config.starts],
                ["triage", json.dumps(config.triage.model_dump())],
                ["oracle", f"{config.oracle.name} {json.dumps(config.oracle.kwargs)}"],
                ["committee", json.dumps(config.committee.model_dump(mode="json"))],
            ],
            left=2,
        )
    )


def _loop_section(loops, metrics, rows) -> None:
    """The loop table and what its columns count."""
    loops.append(
        "<p>Counts are cumulative up to each loop. Oracle atoms: the atoms "
        "the oracle computed (each call counts its structure's atoms). "
        "Two rules send a labelled committee saddle to training. Force "
        "rule — artifactual: its oracle max force exceeds the triage limit. "
        "Energy rule — barrier off: the committee's barrier differs from the "
        "oracle's at the same saddle and relaxed start (both labelled) by more "
        "than its limit; the saddle and its start train (energy: saddles only "
        "this rule sent; barrier off counts every saddle it fired on). "
        "Proximal: the others (the proximal-saddle test set); tail: the start "
        "states of the hops of the score's tail set aside for testing; "
        "instability: hops whose ends "
        "did not relax on the committee (their start trains, unrelaxed); "
        "collapse: the last frame of such a failed relaxation whose atoms were "
        "still apart (it trains: the edge of the committee's hole); blocked: "
        "saddles with atoms too close or committee forces too large (never "
        "labelled). The random set is frozen at loop 0 and never trains; its "
        "barrier RMSE compares the committee's saddle searches between the "
        "oracle-relaxed ends with the oracle's own; its interval is a 95 % "
        "percentile bootstrap over the hops (few hops: read it as a lower "
        "bound on the uncertainty).</p>"
    )
    loops.append(table(COLUMNS, rows))
    untrusted = metrics[-1].counts.get("random_untrusted", 0)
    if untrusted:
        loops.append(
            f"<p>{untrusted} random hop(s) left out of the random set: the "
            "oracle's own search gave no barrier to trust (not converged, not "
            "connecting the ends, or a saddle below an end); their labels are "
            "kept in the store.</p>"
        )


def _curve_figure(page: Page, loops, metrics) -> None:
    """The random-set barrier RMSE against oracle calls and oracle atoms."""
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    fig, (by_calls, by_atoms) = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    curve = [m for m in metrics if m.barrier_rmse_meV is not None]
    for ax, cost, label in (
        (by_calls, "oracle_calls", "oracle calls"),
        (by_atoms, "oracle_atoms", "atoms computed by the oracle"),
    ):
        ax.plot(
            [getattr(m, cost) for m in curve],
            [m.barrier_rmse_meV for m in curve],
            marker=marker(0),
            color=colour(0),
        )
        ax.set_xlabel(label)
        integer_ticks(ax)
        ax.grid(alpha=0.3)
    by_calls.set_ylabel("random-set barrier RMSE (meV)")
    loops.append(
        page.figure(
            fig,
            "Barrier error against oracle calls (left) and against the atoms "
            "the oracle computed (right, the cost that grows with cell size), "
            "one point per loop.",
            "barrier-curve",
        )
    )
    plt.close(fig)


def _size_section(sizes, last) -> None:
    """Where the oracle's cost went, per cell size, and the last errors."""
    sizes.append(
        "<p>Small cells put more of their atoms near the saddle; the oracle's "
        "cost grows with the atoms it computes (for DFT, faster than "
        "linearly). Per cell size, up to the last loop: the oracle calls and "
        "atoms spent on hops of that size (loop-0 searches and later labels), "
        "and the final committee's errors on the random hops of that size. "
        "Campaigns with one cell size each, compared at equal oracle atoms, "
        "are the clean measure of the per-atom efficiency; this table is "
        "where a mixed campaign's cost went.</p>"
    )
    sizes.append(
        table(
            [
                "cell",
                "oracle calls",
                "oracle atoms",
                "random hops",
                "random F RMSE (meV/Å)",
                "random barrier RMSE (meV)",
            ],
            [
                [
                    size,
                    str(f["oracle_calls"]),
                    str(f["oracle_atoms"]),
                    str(f.get("random_hops", 0)),
                    _figure(f.get("random_force_rmse_meV_A"), ".0f"),
                    _figure(f.get("random_barrier_rmse_meV"), ".0f"),
                ]
                for size, f in last.by_cell_size.items()
            ],
        )
    )


def _random_section(shown, metrics) -> None:
    """The random set's barrier table per hop group and the failed searches."""
    last = metrics[-1]
    first = metrics[0]
    if last.barrier_by_hop:
        shown.append(
            "<p>Barrier RMSE per hop type and hopping species, at loop "
            f"{first.loop} and loop {last.loop}, with the 95 % bootstrap "
            "interval over the hops of each group; mean error below 0: the "
            "committee's barriers are low.</p>"
        )
        shown.append(table(*hop_table(metrics)))
    failed = [
        (k, group, why)
        for k, (group, why) in enumerate(
            zip(last.barrier_hops, last.barrier_mlip_reason, strict=True)
        )
        if why
    ]
    if failed:
        shown.append(
            f"<p>Committee searches of loop {last.loop} that gave no barrier to "
            "trust (left out of the RMSE), and why:</p>"
        )
        shown.append(
            table(
                ["random hop", "hop: hopping species", "why"],
                [[str(k), group, why] for k, group, why in failed],
                left=3,
            )
        )
    if not last.barrier_oracle:
        shown.append(
            "<p>No random hop has a barrier to trust: every oracle search of "
            "the random set failed to converge, to connect its ends, or put its "
            "saddle below an end (their labels are kept in the store).</p>"
        )


def _random_figures(page: Page, shown, last, hops) -> None:
    """Committee against oracle barriers of the random hops, and their
    distributions per hop group."""
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    oracle = np.array(last.barrier_oracle)
    mlip = np.array([np.nan if b is None else b for b in last.barrier_mlip])
    groups = sorted({(hop, hopping) for hop, hopping, _ in hops})
    masks = [np.array([(h, x) == g for h, x, _ in hops], bool) for g in groups]
    finite = np.isfinite(mlip)
    both = np.concatenate([oracle, mlip[finite]])
    span = [float(both.min()), float(both.max())]
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    for k, ((hop, hopping), mask) in enumerate(zip(groups, masks, strict=True)):
        ax.scatter(
            oracle[mask],
            mlip[mask],
            color=colour(k),
            marker=marker(k),
            label=f"{hop}: {hopping}",
        )
    ax.plot(span, span, color="0.5", lw=1)
    ax.set_xlabel("oracle barrier (eV)")
    ax.set_ylabel("committee barrier (eV)")
    ax.legend(title="hop: hopping species", fontsize=8)
    shown.append(
        page.figure(
            fig,
            f"Loop {last.loop}: committee against oracle barriers of the random "
            "hops, per hop type and hopping species (a hop whose committee "
            f"search failed is not shown: {int((~finite).sum())} here).",
            "barrier-parity",
        )
    )
    plt.close(fig)
    bins = np.linspace(span[0], span[1], 12) if span[1] > span[0] else 10
    columns = min(3, max(1, len(groups)))
    rows_n = -(-len(groups) // columns)
    fig, axes = plt.subplots(
        rows_n, columns, figsize=(3.2 * columns, 2.8 * rows_n), squeeze=False
    )
    for ax, (hop, hopping), mask in zip(axes.flat, groups, masks, strict=False):
        ax.hist(oracle[mask], bins=bins, alpha=0.6, color=colour(0), label="oracle")
        ax.hist(
            mlip[mask & finite],
            bins=bins,
            alpha=0.6,
            color=colour(1),
            label="committee",
        )
        ax.set_title(f"{hop}: {hopping} hops ({int(mask.sum())})", fontsize=9)
        ax.set_xlabel("barrier (eV)")
        ax.set_ylabel("hops")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    shown.append(
        page.figure(
            fig,
            f"Loop {last.loop}: barrier distributions of the random hops per hop "
            "type and hopping species, oracle against committee.",
            "barrier-distributions",
        )
    )
    plt.close(fig)


def write_barrier_report(store, config, path: str | Path) -> Path:
    """Write ``path`` (HTML), and beside it ``metrics.csv``, ``barriers.csv``
    and the barrier figure as ``barriers.svg``."""

    metrics = barrier_metrics(store)
    if not metrics:
        raise ValueError("the store has no finished loop yet")
    path = Path(path)
    rows = loop_rows(metrics)
    write_csv(path.with_name("metrics.csv"), COLUMNS, rows)
    hops = random_hops(store)
    write_csv(path.with_name("barriers.csv"), *barrier_table(hops, metrics))

    page = Page.about("hyperal barrier campaign", config.store)
    _setup_section(page, config)
    loops = page.section("Loop by loop")
    _loop_section(loops, metrics, rows)
    _curve_figure(page, loops, metrics)
    last = metrics[-1]
    _size_section(page.section("By cell size"), last)
    shown = page.section("Barriers of the random set")
    _random_section(shown, metrics)
    if last.barrier_oracle:
        _random_figures(page, shown, last, hops)
    document = page.html()
    path.write_text(document)
    # the barrier figures also as files of their own (for a README or a paper)
    for name, figure in (
        ("barriers.svg", "barrier-parity"),
        ("barrier-distributions.svg", "barrier-distributions"),
    ):
        if figure in page.svgs:
            path.with_name(name).write_text(page.svgs[figure].rstrip("\n"))
    return path
