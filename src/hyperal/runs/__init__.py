"""The run kernel every workflow stands on: the store (the only place that
queries ase.db), its records, the executors and worker tasks, the lock, the
fingerprint, progress reports, the settings pieces every run file shares,
the stage context with the stages every workflow shares, and the runner
(:func:`~hyperal.runs.runner.open_run`) that opens a run the same way for
the campaign, the benchmark and the barrier campaign."""

from hyperal.runs.context import RunError, RunSettings, StageContext
from hyperal.runs.executors import InProcessExecutor, make_executor
from hyperal.runs.lock import StoreLocked
from hyperal.runs.progress import Progress, StageKind
from hyperal.runs.query import Row, Where
from hyperal.runs.records import OracleStatus, Split, Stage, declare
from hyperal.runs.results import ErrorSummary, FinalErrors, LoopMetrics, SplitErrors
from hyperal.runs.runner import OpenRun, RunPlan, open_run
from hyperal.runs.settings import ConfigError
from hyperal.runs.store import Store, StoreError

__all__ = [
    "ConfigError",
    "ErrorSummary",
    "FinalErrors",
    "InProcessExecutor",
    "LoopMetrics",
    "OpenRun",
    "OracleStatus",
    "Progress",
    "RunError",
    "RunPlan",
    "Row",
    "RunSettings",
    "Split",
    "SplitErrors",
    "Stage",
    "StageContext",
    "StageKind",
    "Store",
    "StoreError",
    "StoreLocked",
    "Where",
    "declare",
    "make_executor",
    "open_run",
]
