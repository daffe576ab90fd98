"""The campaign's tables as text rows: what ``hyperal status`` prints and
the report shows — the per-loop summary, the errors on the final frozen
sets, and why a campaign stopped.
"""

from __future__ import annotations

import html

from hyperal.campaign.stopping import predicted, stopped
from hyperal.report.figures import SPLITS, summaries_of
from hyperal.report.page import table
from hyperal.runs.query import Where
from hyperal.runs.records import MAIN_RUN, OracleStatus
from hyperal.utils import duration

#: Columns of the per-loop summary (report table and ``hyperal status``).
SUMMARY_COLUMNS = (
    "loop",
    "oracle calls",
    "failures",
    "train",
    "selected/skipped/redundant",
    "fit",
    "wall",
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
                "–" if m.wall_s is None else duration(m.wall_s),
                cell(g, "energy_rmse_meV_atom"),
                cell(g, "force_rmse_meV_A", 0),
                cell(d, "energy_rmse_meV_atom"),
                cell(d, "force_rmse_meV_A", 0),
                cell(d, "angle_mae_deg"),
            ]
        )
    return rows


#: Task names as the pool table shows them (others by their own name).
TASKS = {
    "label_structure": "labels",
    "evolve_and_select": "evolutions",
    "fit_committee": "fits",
    "predict": "predictions",
    "oracle_relaxation": "oracle relaxations",
}


def pool_rows(metrics) -> tuple[list[str], list[list[str]]]:
    """Header and rows of how the pool's workers spent each loop (loops run
    in process, or before this was measured, have none): workers, the
    loop's wall time, the busy share of worker-seconds, and each kind of
    task's share. Empty when no loop has any."""
    timed = [m for m in metrics if m.pool_time is not None]
    if not timed:
        return [], []
    tasks = sorted({t for m in timed for t in m.pool_time.busy_s})
    header = ["loop", "workers", "wall (s)", "busy"]
    header += [TASKS.get(t, t) for t in tasks]
    rows = []
    for m in timed:
        use = m.pool_time
        available = use.workers * use.window_s
        shares = [sum(use.busy_s.values())] + [use.busy_s.get(t, 0.0) for t in tasks]
        seen = "" if use.counted == "configured" else " seen"
        rows.append(
            [str(m.loop), f"{use.workers}{seen}", f"{use.window_s:.0f}"]
            + [
                f"{100 * seconds / available:.0f} %" if available > 0 else "–"
                for seconds in shares
            ]
        )
    return header, rows


#: What the pool table's figures mean (status and report).
POOL_NOTE = (
    "share of the workers' time (workers × the loop's wall time, from the "
    "previous loop's end) spent in tasks; 'seen': the workers that ran a "
    "task (Slurm jobs, an outside Dask scheduler)"
)


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


def pool_table(metrics) -> str:
    """The report's pool table with what its figures mean ("" when no loop
    ran on a pool)."""
    header, rows = pool_rows(metrics)
    if not rows:
        return ""
    return f"<p>Pool workers' time per loop: {html.escape(POOL_NOTE)}.</p>" + table(
        header, rows, left=0
    )


def wall_line(metrics) -> str:
    """The campaign's wall time: the sum of its loops' (each from the
    previous loop's end, in the run that finished it — time a killed run
    spent on a loop it did not finish is not counted), or why none."""
    timed = [m.wall_s for m in metrics if m.wall_s is not None]
    if not timed:
        return "wall time: not measured (a store of an older hyperal)"
    untimed = len(metrics) - len(timed)
    also = f"; {untimed} loop(s) of an older hyperal not timed" if untimed else ""
    return (
        f"wall time: {duration(sum(timed))} over {len(timed)} loop(s) (loop 0 "
        f"included; an interrupted run's unfinished loop not counted{also})"
    )


def stop_line(store, run: str = MAIN_RUN) -> str:
    """Why the campaign ended: its early stop, or its ``loops``; with a
    force-σ target, how many of the last loop's selected frames were
    predicted above it."""

    left = predicted(store, run)
    worth = ""
    if left:
        last = left[-1]
        worth = (
            f"; loop {last['loop']}: {last['above']} of {last['frames']} "
            "selected frames had a calibrated force σ (q·σ, a heuristic for "
            f"selected frames) at or above {last['target_eV_A']:g} eV/Å"
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
