"""The barrier campaign's report: one self-contained HTML page and CSV files.

Per loop: oracle calls, training size, triage counts, errors on the
proximal-saddle and random sets, the random-set barrier RMSE; the learning
curve of the barrier error against oracle calls; the barriers of the random
hops, committee against oracle (parity), and their distributions per hopping
species.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from hyperal.report.page import Page, colour, marker, table

COLUMNS = [
    "loop",
    "oracle calls",
    "train",
    "artifactual",
    "proximal",
    "instability",
    "blocked",
    "proximal F RMSE (meV/Å)",
    "random E RMSE (meV/atom)",
    "random F RMSE (meV/Å)",
    "tail F RMSE (meV/Å)",
    "barrier RMSE (meV)",
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
            str(m.n_train),
            *(
                str(m.counts.get(k, 0))
                for k in ("artifactual", "proximal", "instability", "blocked")
            ),
            figure(m, "proximal", "force_rmse_meV_A", ".0f"),
            figure(m, "random", "energy_rmse_meV_atom", ".1f"),
            figure(m, "random", "force_rmse_meV_A", ".0f"),
            figure(m, "tail", "force_rmse_meV_A", ".0f"),
            "–" if m.barrier_rmse_meV is None else f"{m.barrier_rmse_meV:.0f}",
        ]
        for m in metrics
    ]


def write_barrier_report(store, config, path: str | Path) -> Path:
    """Write ``path`` (HTML), and beside it ``metrics.csv``, ``barriers.csv``
    and the barrier figure as ``barriers.svg``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    import hyperal
    from hyperal.barriers.learn import RUN, barrier_metrics

    metrics = barrier_metrics(store)
    if not metrics:
        raise ValueError("the store has no finished loop yet")
    path = Path(path)
    rows = loop_rows(metrics)
    with open(path.with_name("metrics.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    random = store.rows(run=RUN, loop=0, point="saddle", split="random")
    species = [r.get("hopping", "") for r in random]
    with open(path.with_name("barriers.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["hop", "hopping", "loop", "oracle_eV", "mlip_eV"])
        for m in metrics:
            for k, (o, b) in enumerate(
                zip(m.barrier_oracle, m.barrier_mlip, strict=True)
            ):
                hopping = species[k] if k < len(species) else ""
                writer.writerow(
                    [k, hopping, m.loop, f"{o:.5f}", "" if b is None else f"{b:.5f}"]
                )

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = Page(
        "hyperal barrier campaign",
        f"hyperal {hyperal.__version__}; written {when}; store {config.store}",
    )
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
                ["cells", ", ".join("×".join(map(str, s)) for s in config.cells.sizes)],
                [
                    "loop 0",
                    f"{config.initial.train} training hops, "
                    f"{config.initial.random_set} random hops (oracle searches)",
                ],
                ["committee searches per loop", config.starts],
                ["triage", json.dumps(config.triage.model_dump())],
                ["oracle", f"{config.oracle.name} {json.dumps(config.oracle.kwargs)}"],
                ["committee", json.dumps(config.committee.model_dump(mode="json"))],
            ],
            left=2,
        )
    )
    loops = page.section("Loop by loop")
    loops.append(
        "<p>Counts are cumulative up to each loop. Artifactual: committee saddles "
        "whose oracle max force exceeds the triage limit (they train); proximal: "
        "the others (the proximal-saddle test set); tail: the start states of "
        "the hops of the score's tail set aside for testing; instability: hops "
        "whose ends "
        "did not relax on the committee (their start trains, unrelaxed); blocked: "
        "saddles with atoms too close or committee forces too large (never "
        "labelled). The random set is frozen at loop 0 and never trains; its "
        "barrier RMSE compares the committee's saddle searches between the "
        "oracle-relaxed ends with the oracle's own.</p>"
    )
    loops.append(table(COLUMNS, rows))
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    pairs = [
        (m.oracle_calls, m.barrier_rmse_meV)
        for m in metrics
        if m.barrier_rmse_meV is not None
    ]
    if pairs:
        ax.plot(*zip(*pairs, strict=True), marker=marker(0), color=colour(0))
    ax.set_xlabel("oracle calls")
    ax.set_ylabel("random-set barrier RMSE (meV)")
    ax.grid(alpha=0.3)
    loops.append(
        page.figure(
            fig,
            "Barrier error against oracle calls, one point per loop.",
            "barrier-curve",
        )
    )
    plt.close(fig)

    last = metrics[-1]
    shown = page.section("Barriers of the random set")
    oracle = np.array(last.barrier_oracle)
    mlip = np.array([np.nan if b is None else b for b in last.barrier_mlip])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    for k, hop in enumerate(sorted(set(species)) or [""]):
        mask = (
            np.array([s == hop for s in species])
            if species
            else np.ones(len(oracle), bool)
        )
        left.scatter(
            oracle[mask],
            mlip[mask],
            color=colour(k),
            marker=marker(k),
            label=hop or "all",
        )
    span = [
        np.nanmin([oracle.min(), np.nanmin(mlip)]),
        np.nanmax([oracle.max(), np.nanmax(mlip)]),
    ]
    left.plot(span, span, color="0.5", lw=1)
    left.set_xlabel("oracle barrier (eV)")
    left.set_ylabel("committee barrier (eV)")
    left.legend(title="hopping", fontsize=8)
    bins = np.linspace(span[0], span[1], 12) if span[1] > span[0] else 10
    right.hist(oracle, bins=bins, alpha=0.6, color=colour(0), label="oracle")
    right.hist(
        mlip[np.isfinite(mlip)],
        bins=bins,
        alpha=0.6,
        color=colour(1),
        label="committee",
    )
    right.set_xlabel("barrier (eV)")
    right.set_ylabel("hops")
    right.legend(fontsize=8)
    shown.append(
        page.figure(
            fig,
            f"Loop {last.loop}: committee against oracle barriers of the random hops "
            "(left, per hopping species) and their distributions (right).",
            "barrier-parity",
        )
    )
    plt.close(fig)
    document = page.html()
    path.write_text(document)
    # the barrier figure also as a file of its own (for a README or a paper)
    found = re.search(
        r"<figure id='fig-barrier-parity'>(<svg.*?</svg>)", document, re.S
    )
    if found:
        path.with_name("barriers.svg").write_text(found[1])
    return path
