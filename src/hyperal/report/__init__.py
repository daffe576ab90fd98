"""Pages a person reads: the campaign report (:mod:`.campaign`, its figures in
:mod:`.figures` and the tables ``hyperal status`` prints in :mod:`.status`),
the benchmark's (:mod:`.benchmark`, :mod:`.trajectories`) and the barrier
campaign's (:mod:`.barriers`). Each is one self-contained HTML file read from
the store only (inline SVG figures, no network)."""

from hyperal.report.campaign import write_report
from hyperal.report.status import (
    POOL_NOTE,
    SUMMARY_COLUMNS,
    final_rows,
    pool_rows,
    stop_line,
    summary_rows,
    wall_line,
)

__all__ = [
    "POOL_NOTE",
    "SUMMARY_COLUMNS",
    "final_rows",
    "pool_rows",
    "stop_line",
    "summary_rows",
    "wall_line",
    "write_report",
]
