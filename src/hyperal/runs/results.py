"""Typed campaign metrics, and their one conversion to and from the store.

A loop's :class:`LoopMetrics` holds its oracle and data counts, the fit report
and, per test set, :class:`SplitErrors`: the errors over all structures, per
structure type (``by_source``) and the parity data. The status table, the
report and the benchmark read these attributes; :meth:`LoopMetrics.from_store`
also reads the untyped dicts of stores written before (schema 0).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

from hyperal.committee.calibration import Calibration
from hyperal.models.protocol import FitReport
from hyperal.runs.records import MAIN_RUN

SCHEMA = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorSummary(_Model):
    """Committee-mean errors against the oracle on a set of structures."""

    count: int
    energy_rmse_meV_atom: float
    energy_mae_meV_atom: float
    force_rmse_meV_A: float
    force_mae_meV_A: float
    angle_mae_deg: float
    #: robust figures: median and 95th percentile of the absolute errors of
    #: the structures' energies and of the force components (None in stores
    #: written before they existed)
    energy_median_meV_atom: float | None = None
    energy_p95_meV_atom: float | None = None
    force_median_meV_A: float | None = None
    force_p95_meV_A: float | None = None


class Parity(_Model):
    """Predicted against reference values: energies per structure (eV/atom),
    a random sample of force components (eV/Å) with their atoms' force angles
    (degrees), σ_U per structure (eV), structure types and atom counts, and
    each structure's sum of squared force-component errors (eV²/Å²: with the
    atom counts, any subset's force RMSE; empty in stores written before it
    was kept)."""

    energy_ref: list[float] = []
    energy_pred: list[float] = []
    force_ref: list[float] = []
    force_pred: list[float] = []
    angles: list[float] = []
    sigma: list[float] = []
    source: list[str] = []
    natoms: list[int] = []
    force_sse: list[float] = []


class ForceBin(_Model):
    """Force errors of the atoms whose reference force magnitude |F_ref|
    lies in [lower, upper) eV/Å: separates "which distribution" (how far
    from equilibrium a test set lies) from "which model"."""

    lower_eV_A: float
    upper_eV_A: float
    atoms: int
    force_rmse_meV_A: float  # over the components of those atoms
    force_mae_meV_A: float
    angle_mae_deg: float


class SplitErrors(_Model):
    """Errors on one test set: overall, per structure type, per bin of
    reference force magnitude, parity data and, for a committee, how well its
    σ predicts the errors (``energy`` and ``force``,
    :mod:`hyperal.committee.calibration`)."""

    all: ErrorSummary
    by_source: dict[str, ErrorSummary] = {}
    force_bins: list[ForceBin] = []
    parity: Parity = Parity()
    calibration: dict[str, Calibration] = {}


class FinalErrors(_Model):
    """One checkpoint's errors on the final frozen test sets (the same sets
    for every loop and, in a benchmark, every scheme); ``sizes`` are the
    sets' structure counts when evaluated."""

    loop: int
    run: str = MAIN_RUN
    sizes: dict[str, int]
    tests: dict[str, SplitErrors]

    def errors(self, split: str) -> ErrorSummary | None:
        found = self.tests.get(split)
        return found.all if found else None


class PoolTime(_Model):
    """How a pool's workers spent one loop: from the end of the previous
    loop (or the pools' start) to this loop's end, ``window_s`` seconds on
    ``workers`` workers, of which ``busy_s`` were spent in tasks, by task
    (``label_structure``, ``evolve_and_select``, ``fit_committee``, ...).
    ``counted`` says where the worker count comes from: ``configured`` (a
    process pool or local Dask cluster of ``executor.workers``) or ``seen``
    (the workers that ran a task in the window: Slurm jobs, a Dask scheduler
    of its own). A task still running at the window's end counts in the
    loop it ends in, from that loop's start."""

    workers: int
    counted: str
    window_s: float
    busy_s: dict[str, float] = {}

    @property
    def utilisation(self) -> float:
        """Busy worker-seconds over available worker-seconds."""
        available = self.workers * self.window_s
        return sum(self.busy_s.values()) / available if available > 0 else math.nan


class LoopMetrics(_Model):
    """What one loop of one run did and how good its committee is."""

    loop: int
    run: str = MAIN_RUN
    oracle_calls: int
    oracle_failures: int
    n_train: int
    n_selected: int = 0
    n_skipped: int = 0
    #: candidate frames passed over as near-copies by the redundancy filter
    n_redundant: int = 0
    selected_sigma: list[float] = []
    evolution: dict[str, int] = {}
    fit: FitReport | None = None
    tests: dict[str, SplitErrors] = {}
    #: the pool's workers during the loop (None in process and in stores
    #: written before it was measured)
    pool_time: PoolTime | None = None
    #: the loop's wall time (s): from the previous loop's end — or the start
    #: of the run that finished it — to its evaluation (None in stores
    #: written before it was measured)
    wall_s: float | None = None
    #: the exploring committee's (the previous loop's) errors on this loop's
    #: audit labels — frames drawn uniformly at random, ``selection.
    #: random_share`` of the loop's labels — an unbiased estimate of its
    #: error on the distribution the loop explored (None without an audit)
    audit: SplitErrors | None = None

    def errors(self, split: str) -> ErrorSummary | None:
        """Overall errors on ``split`` (None when not evaluated)."""
        found = self.tests.get(split)
        return found.all if found else None

    def conformal(self, *quantities: str) -> tuple[str, Calibration] | None:
        """The first finite split-conformal factor of this loop's committee
        among ``quantities`` (in order), on the difficult set, else on the
        gentle set: (that set, its calibration); None when every one is
        infinite or missing."""
        for quantity in quantities:
            for split in ("difficult", "gentle"):
                errors = self.tests.get(split)
                found = errors.calibration.get(quantity) if errors else None
                if found is not None and math.isfinite(found.factor):
                    return split, found
        return None

    def to_store(self) -> dict[str, Any]:
        data = self.model_dump(exclude={"fit", "loop"})
        data["schema"] = SCHEMA
        data["fit"] = None if self.fit is None else self.fit.to_dict()
        return data

    @classmethod
    def from_store(cls, loop: int, data: dict[str, Any]) -> LoopMetrics:
        """From a metrics row's data (schema 1, or the schema-0 dicts of
        stores written before typed metrics)."""
        data = dict(data)
        if data.pop("schema", 0) >= 1:
            fit = data.pop("fit", None)
            return cls(
                loop=loop,
                fit=None if fit is None else FitReport.from_dict(fit),
                **data,
            )
        tests = {}
        for split in ("gentle", "difficult"):
            old = data.pop(split, None) or {}
            if "all" not in old:
                continue
            parity = old.get("parity") or {}
            tests[split] = SplitErrors(
                all=ErrorSummary(**old["all"]),
                by_source={
                    k: ErrorSummary(**v)
                    for k, v in old.items()
                    if k not in ("all", "parity")
                },
                parity=Parity(**{k: v for k, v in parity.items() if k != "source"}),
            )
        return cls(
            loop=loop,
            oracle_calls=data.get("oracle_calls", 0),
            oracle_failures=data.get("oracle_failures", 0),
            n_train=data.get("n_train", 0),
            n_selected=data.get("n_selected", 0),
            n_skipped=data.get("n_skipped", 0),
            selected_sigma=data.get("selected_sigma", []),
            tests=tests,
        )
