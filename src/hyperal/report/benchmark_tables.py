"""The benchmark page's tables: the paired verdicts, and the errors per
structure type and force bin of every frozen set."""

from __future__ import annotations

import numpy as np

from hyperal.report.page import (
    table,
)


def variant_curves(results):
    out: dict[str, list] = {}
    for curve in results.curves:
        out.setdefault(curve.variant, []).append(curve)
    return out


def verdicts(results) -> list[str]:
    """The paired comparisons as a table, with how they were made."""
    if not results.comparisons:
        return ["<p>One variant: nothing to compare.</p>"]
    rows = []
    for c in results.comparisons:
        i = c.interval
        needed = c.needed_for_10_percent
        rows.append(
            [
                c.variant,
                f"{c.other} ({c.role})",
                c.metric,
                i.n,
                fmt(i.mean),
                f"[{fmt(i.low)}, {fmt(i.high)}]",
                f"{c.percent(i.mean):+.1f} % [{c.percent(i.low):+.1f}, "
                f"{c.percent(i.high):+.1f}]"
                if i.n > 1
                else f"{c.percent(i.mean):+.1f} %",
                f"{c.p_holm:.3g}",
                c.verdict,
                needed if needed is not None else "–",
            ]
        )
    return [
        "<p>Each variant against the reference and against the random-selection "
        "control, and each biased variant against its unbiased twin, paired by "
        f"replicate (the replicates share starts, seeds and "
        f"first committee): variant − other on the {results.rank_set} force "
        "RMSE of the last committee ('final') and on its mean over the labelling "
        "budget ('over budget'); negative is a lower error. Mean difference with "
        "its 95 % Student-t interval (sample standard deviation, ddof = 1), the "
        "paired t-test's p-value Holm-corrected across every comparison of the "
        "same figure, and the verdict that follows: better / worse when the "
        "corrected p is below 0.05, else no detectable difference with the "
        "smallest effect this design detects (80 % power). The last column is "
        "how many replicates would detect a 10 % difference at the observed "
        "paired spread.</p>",
        table(
            [
                "variant",
                "against",
                "figure",
                "replicates",
                "difference (meV/Å)",
                "95 % interval (meV/Å)",
                "relative",
                "p (Holm)",
                "verdict",
                "replicates for 10 %",
            ],
            rows,
            left=3,
        ),
    ]


def per_set_tables(results) -> list[str]:
    """Per frozen set other than the gentle one: final force errors per
    structure type (stratum) and per bin of reference force magnitude."""
    out = []
    by_variant = variant_curves(results)
    names = sorted(
        {n for c in results.curves for n in c.final[-1].tests if n != "gentle"}
    )
    for name in names:
        finals = {
            v: [c.final[-1].tests.get(name) for c in cs] for v, cs in by_variant.items()
        }
        sources = sorted(
            {s for fs in finals.values() for f in fs if f for s in f.by_source}
        )
        bins = sorted(
            {
                (b.lower_eV_A, b.upper_eV_A)
                for fs in finals.values()
                for f in fs
                if f
                for b in f.force_bins
            }
        )
        rows = []
        for variant, fs in finals.items():
            row = [variant]
            for source in sources:
                values = [
                    f.by_source[source].force_rmse_meV_A
                    for f in fs
                    if f and source in f.by_source
                ]
                row.append(fmt(float(np.mean(values)) if values else None, 0))
            for edges in bins:
                values = [
                    b.force_rmse_meV_A
                    for f in fs
                    if f
                    for b in f.force_bins
                    if (b.lower_eV_A, b.upper_eV_A) == edges
                ]
                row.append(fmt(float(np.mean(values)) if values else None, 0))
            rows.append(row)
        atoms = {
            edges: next(
                (
                    b.atoms
                    for fs in finals.values()
                    for f in fs
                    if f
                    for b in f.force_bins
                    if (b.lower_eV_A, b.upper_eV_A) == edges
                ),
                0,
            )
            for edges in bins
        }
        counts = next(
            (
                {s: f.by_source[s].count for s in sources}
                for fs in finals.values()
                for f in fs
                if f
            ),
            {},
        )
        out.append(f"<h3>{name}</h3>")
        out.append(
            table(
                [
                    "variant",
                    *(f"{s} ({counts.get(s, 0)}) F RMSE" for s in sources),
                    *(
                        f"|F_ref| {lo:g}–{hi:g} eV/Å ({atoms[lo, hi]} atoms)"
                        for lo, hi in bins
                    ),
                ],
                rows,
            )
        )
    return out


def fmt(value, digits=1):
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"
