"""The campaign report: one self-contained HTML file read from the store only.

Learning curves (errors against loop and against oracle calls, gentle and
difficult sets, per structure type), parity plots and the force-angle
distribution of the latest loop, and the σ_U of the selected frames per loop;
figures are matplotlib PNGs embedded as base64.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

SPLITS = ("gentle", "difficult")


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img src="data:image/png;base64,{data}">'


def _curves(metrics, x_key, x_label):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    quantities = (
        ("energy_rmse_meV_atom", "energy RMSE (meV/atom)"),
        ("force_rmse_meV_A", "force RMSE (meV/Å)"),
        ("angle_mae_deg", "force angle MAE (°)"),
    )

    def summaries(m, split):  # structure type -> ErrorSummary, "all" first
        errors = m.tests.get(split)
        return {"all": errors.all, **errors.by_source} if errors else {}

    for ax, (key, label) in zip(axes, quantities, strict=True):
        for style, split in zip(("-o", "--s"), SPLITS, strict=True):
            types = sorted({t for m in metrics for t in summaries(m, split)})
            for t in types:
                pts = [
                    (getattr(m, x_key), getattr(summaries(m, split)[t], key))
                    for m in metrics
                    if t in summaries(m, split)
                ]
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax.plot(
                        xs,
                        ys,
                        style,
                        label=f"{split}: {t}",
                        lw=2.5 if t == "all" else 1,
                    )
        # log scale where every value is positive; a zero error (a perfect
        # fit, or one structure) would leave a log panel empty
        values = [y for line in ax.get_lines() for y in line.get_ydata()]
        positive = bool(values) and min(values) > 0
        ax.set(xlabel=x_label, ylabel=label, yscale="log" if positive else "linear")
    axes[0].legend(fontsize=7)
    return _png(fig)


def _latest(metrics):
    import matplotlib.pyplot as plt

    last = metrics[-1]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    for split, color in zip(SPLITS, ("C0", "C3"), strict=True):
        errors = last.tests.get(split)
        if errors is None:
            continue
        parity = errors.parity
        axes[0].scatter(
            parity.energy_ref, parity.energy_pred, s=8, c=color, label=split
        )
        axes[1].scatter(
            parity.force_ref,
            parity.force_pred,
            s=3,
            c=color,
            alpha=0.5,
            label=split,
        )
        axes[2].hist(
            parity.angles,
            bins=40,
            range=(0, 180),
            alpha=0.6,
            color=color,
            label=split,
            density=True,
        )
    for ax, name in zip(
        axes[:2], ("energy (eV/atom)", "force component (eV/Å)"), strict=True
    ):
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k:", lw=1)
        ax.set(xlabel=f"reference {name}", ylabel=f"committee {name}")
        ax.legend(fontsize=8)
    axes[2].set(xlabel="θ_F (°)", ylabel="density")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"loop {last.loop}")
    return _png(fig)


def _sigma(metrics):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8), constrained_layout=True)
    for m in metrics:
        if m.selected_sigma:
            ax.hist(
                m.selected_sigma,
                bins=20,
                histtype="step",
                lw=1.5,
                label=f"loop {m.loop}",
            )
    ax.set(xlabel="σ_U of the selected frames (eV)", ylabel="frames")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _png(fig)


#: Columns of the per-loop summary (report table and ``hyperal status``).
SUMMARY_COLUMNS = (
    "loop",
    "oracle calls",
    "failures",
    "train",
    "selected/skipped",
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
                f"{m.n_selected}/{m.n_skipped}",
                _fit_cell(m.fit),
                cell(g, "energy_rmse_meV_atom"),
                cell(g, "force_rmse_meV_A", 0),
                cell(d, "energy_rmse_meV_atom"),
                cell(d, "force_rmse_meV_A", 0),
                cell(d, "angle_mae_deg"),
            ]
        )
    return rows


def _table(metrics) -> str:
    header = "".join(f"<th>{html.escape(h)}</th>" for h in SUMMARY_COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in summary_rows(metrics)
    )
    return f"<table><tr>{header}</tr>{rows}</table>"


def write_report(store, path: str | Path) -> Path:
    """Write the HTML report of the campaign in ``store`` to ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    metrics = store.metrics()
    if not metrics:
        raise ValueError("the store has no finished loop yet")
    body = [
        "<h1>hyperal campaign report</h1>",
        f"<p>store: {html.escape(str(store.path))}; loops finished: "
        f"{len(metrics) - 1}; errors in meV/atom, meV/Å and degrees (RMSE; θ_F "
        "MAE), committee mean against the oracle.</p>",
        _table(metrics),
        "<h2>Learning curves against loop</h2>",
        _curves(metrics, "loop", "loop"),
        "<h2>Learning curves against oracle calls</h2>",
        _curves(metrics, "oracle_calls", "oracle calls"),
        "<h2>Latest loop: parity and force angles</h2>",
        _latest(metrics),
        "<h2>Uncertainty of the selected frames</h2>",
        _sigma(metrics),
    ]
    style = (
        "body{font-family:sans-serif;max-width:1400px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:3px 8px;text-align:right}img{max-width:100%}"
    )
    document = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hyperal "
        f"report</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )
    path = Path(path)
    path.write_text(document)
    return path


__all__ = ["SUMMARY_COLUMNS", "summary_rows", "write_report"]
