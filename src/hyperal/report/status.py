"""The campaign's tables as text rows: what ``hyperal status`` prints and
the report shows — the per-loop summary, the errors on the final frozen
sets, and why a campaign stopped.
"""

from __future__ import annotations

from hyperal.report.figures import SPLITS, summaries_of
from hyperal.report.page import table
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus

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
        types = sorted({t for f in finals for t in summaries_of(f, split)} - {"all"})
        columns += [(split, "all"), *((split, t) for t in types)]
    header = ["loop"] + [f"{s} {t}" for s, t in columns]
    rows = []
    for f in finals:
        row = [str(f.loop)]
        for split, t in columns:
            found = summaries_of(f, split).get(t)
            row.append("–" if found is None else f"{found.force_rmse_meV_A:.0f}")
        rows.append(row)
    return header, rows


def summary_table(metrics) -> str:
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
        calls = store.oracle_calls(Where(run=run))
        failed = store.count(Where(status=OracleStatus.FAILED, run=run))
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
