"""Sections that every workflow's file shares — the oracle, the executor,
how σ is checked — and the checks of what a valid-looking section can still
get wrong (an oracle that cannot be built, a store folder that does not
exist, a committee too large to fit), each one line naming the key.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal

from ase.calculators.calculator import BaseCalculator, Calculator, FileIOCalculator
from pydantic import Field, field_validator, model_validator

from hyperal.models.descriptors import BPDescriptor
from hyperal.oracle import ORACLES, Oracle, directory_given, resolve
from hyperal.runs.executors import EXECUTORS
from hyperal.runs.settings import Settings, can_create_in
from hyperal.runs.slurm import SLURM_KEYS, SlurmJobs, walltime_seconds
from hyperal.structures.limits import check_parameters, limit


class OracleConfig(Settings):
    """The reference calculator: a registered name or an import path."""

    name: str
    kwargs: dict[str, Any] = {}
    timeout_s: float | None = Field(None, gt=0)
    retries: int = Field(0, ge=0)
    stress: bool = False
    workdir: str | None = Field(
        None,
        description="folder under which every oracle call runs in a new folder "
        "of its own (file-based DFT codes write there; calls side by side never "
        "share files); default: <store>.calls beside the store",
    )
    keep_workdirs: Literal["failed", "all", "none"] = Field(
        "failed",
        description="which calls' folders stay: failed ones (with the reason in "
        "hyperal-failure.txt), all, or none",
    )

    @field_validator("name")
    @classmethod
    def _oracle(cls, value: str) -> str:
        if value not in ORACLES and "." not in value:
            raise ValueError(
                f"unknown oracle {value!r}; allowed: {', '.join(ORACLES)} or an "
                "import path like 'ase.calculators.emt.EMT'"
            )
        return value

    @field_validator("kwargs")
    @classmethod
    def _kwargs(cls, value: dict) -> dict:
        if directory_given(value):  # a campaign's oracle always has a workdir
            raise ValueError(directory_given(value))
        return value

    def build(self, beside: str | Path | None = None):
        """The :class:`hyperal.oracle.Oracle` of this section; its calls'
        folders go under ``workdir``, or ``<beside>.calls`` next to the file
        ``beside`` (a store, a test set), else ``hyperal.calls`` here."""

        workdir = self.workdir
        if workdir is None:
            if beside is not None and "://" not in str(beside):
                workdir = str(Path(beside).with_suffix(".calls"))
            else:
                workdir = "hyperal.calls"
        return Oracle(
            self.name,
            self.kwargs,
            timeout_s=self.timeout_s,
            retries=self.retries,
            stress=self.stress,
            workdir=workdir,
            keep_workdirs=self.keep_workdirs,
        )


class ExecutorConfig(SlurmJobs):
    """Where tasks run: a kind of :data:`hyperal.runs.executors.EXECUTORS` —
    ``inprocess``, a local ``process`` pool of ``workers``, ``dask`` (a
    LocalCluster of ``workers``, or the scheduler at ``address``) or
    ``slurm`` (worker jobs hyperal submits itself; the keys of
    :class:`~hyperal.runs.slurm.SlurmJobs` shape them, ``fit`` gives fits,
    evolutions and predictions jobs of their own — a GPU queue — while labels
    keep these). Each kind reads only its own keys."""

    kind: str = Field(
        "inprocess",
        description="where tasks run: "
        + "; ".join(f"{e.name}: {e.summary}" for e in EXECUTORS.values()),
    )
    workers: int = Field(1, ge=1)
    address: str | None = None
    background_labels: bool = Field(
        True,
        description="stream labels: each selected frame is labelled the moment "
        "its evolution ends, the difficult starts meanwhile, and the next "
        "loop's difficult starts while the committee fits (a barrier "
        "campaign: each structure a committee search stores, while the other "
        "hops are searched); in process in one coordinator thread, one oracle "
        "call at a time; false: evolve (search) all, then label all, then fit",
    )
    fit: SlurmJobs | None = Field(
        None,
        description="slurm: jobs of their own for fits, evolutions and "
        "predictions (e.g. a GPU partition with gpus: 1); default: the label jobs",
    )

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        EXECUTORS[value]  # an unknown kind is an error listing the registered ones
        return value

    @model_validator(mode="after")
    def _keys_of_the_kind(self):
        # a key of another kind left at its default is harmless (the
        # template lists them all); one set to something else would be
        # believed to act
        entry = EXECUTORS[self.kind]
        for key in type(self).model_fields:
            if key in ("kind", "background_labels") or key in entry.keys:
                continue
            default = (
                type(self).model_fields[key].get_default(call_default_factory=True)
            )
            if getattr(self, key) == default:
                continue
            if key in entry.refuses:
                raise ValueError(entry.refuses[key])
            readers = [e.name for e in EXECUTORS.values() if key in e.keys]
            raise ValueError(
                f"{key}: only for kind {' or '.join(readers)} (kind is {self.kind})"
            )
        return self

    def label_jobs(self) -> SlurmJobs:
        """The label workers' jobs (this section's Slurm keys)."""
        return SlurmJobs(**{key: getattr(self, key) for key in SLURM_KEYS})


class CalibrationConfig(Settings):
    """How the committee's σ is checked against the test sets' true errors
    (:mod:`hyperal.committee.calibration`)."""

    alpha: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="conformal level 1 - alpha: the scaled sigma must cover "
        "this share of held-out true errors",
    )
    aggregate: Literal["max", "mean", "p95"] = Field(
        "max",
        description="a structure's force sigma and force error from its "
        "atoms' (the largest by default: a frame is as wrong as its worst atom)",
    )


def oracle_problems(oracle: OracleConfig) -> list[str]:
    """Whether the oracle can be built with its kwargs (no calculation)."""

    try:
        factory = resolve(oracle.name)
    except ValueError as exc:
        return [f"oracle.name: {str(exc).removeprefix('oracle: ')}"]
    # an in-memory ASE calculator lists its parameters (default_parameters):
    # refuse a typo that its **kwargs would swallow silently. File-based codes
    # (VASP, Quantum ESPRESSO ...) take more than they list: their own check.

    if (
        isinstance(factory, type)
        and issubclass(factory, Calculator)
        and not issubclass(factory, FileIOCalculator)
        and getattr(factory, "default_parameters", None)
    ):
        known = set(factory.default_parameters)
        for cls in factory.__mro__:
            if cls is Calculator or not issubclass(cls, Calculator):
                break
            init = cls.__dict__.get("__init__")
            if init is None:
                continue
            known |= {
                n
                for n, p in inspect.signature(init).parameters.items()
                if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            }
        unknown = sorted(set(oracle.kwargs) - known)
        if unknown:
            return [
                f"oracle.kwargs: unknown parameter(s) {', '.join(unknown)} of "
                f"{oracle.name}; allowed: {', '.join(sorted(known))}"
            ]
    try:
        built = factory(**dict(oracle.kwargs))
    except ModuleNotFoundError as exc:  # an optional extra not installed
        return [f"oracle.name: {exc}"]
    except Exception as exc:  # the factory's own complaint, in one line
        text = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        return [f"oracle.kwargs: {oracle.name} cannot be built: {text}"]

    # an ASE calculator, or anything that answers get_property as one does
    if not (
        isinstance(built, BaseCalculator)
        or callable(getattr(built, "get_property", None))
    ):
        return [
            f"oracle.name: {oracle.name} gives a {type(built).__name__}, not an ASE "
            "calculator; name a Calculator class or a function returning one"
        ]
    return []


def committee_problems(committee: Any, elements: list[str]) -> list[str]:
    """A BPNN committee too large to fit (its weights counted from the
    descriptor length and the hidden widths)."""

    if getattr(committee, "backend", None) != "bpnn":
        return []

    features = BPDescriptor(
        elements=tuple(elements),
        cutoff=committee.cutoff_A,
        n_radial=committee.n_radial,
        angular_etas=tuple(committee.angular_etas),
    ).n_features
    widths = [features, *committee.hidden, 1]
    per_network = sum((a + 1) * b for a, b in zip(widths, widths[1:], strict=False))
    try:
        # name what makes it large: the widths, or the number of members
        wide = 2 * len(elements) * per_network > limit("HYPERAL_MAX_PARAMETERS")
        check_parameters(
            committee.n_members * len(elements) * per_network,
            "committee.hidden" if wide else "committee.n_members",
            f"{committee.n_members:,} members × {len(elements)} element networks "
            f"× {per_network:,} weights",
        )
    except ValueError as exc:
        return [str(exc)]
    return []


def executor_problems(executor: ExecutorConfig, oracle: OracleConfig) -> list[str]:
    """An oracle time limit the label workers' jobs would not outlive (kinds
    whose jobs have a ``walltime``)."""
    if "walltime" not in EXECUTORS[executor.kind].keys or oracle.timeout_s is None:
        return []
    seconds = walltime_seconds(executor.walltime)
    if oracle.timeout_s < seconds:
        return []
    return [
        f"oracle.timeout_s: {oracle.timeout_s:g} s is not below "
        f"executor.walltime {executor.walltime} ({seconds} s): a label "
        "would outlive its job"
    ]


def section_problems(
    *,
    oracle: OracleConfig | None = None,
    store: str | None = None,
    executor: ExecutorConfig | None = None,
) -> list[str]:
    """An oracle that cannot be built or whose ``workdir`` cannot be made; a
    store whose folder does not exist or cannot be written; an oracle time
    limit longer than a Slurm job's."""
    problems = []
    if oracle is not None and executor is not None:
        problems += executor_problems(executor, oracle)
    if oracle is not None:
        problems += oracle_problems(oracle)
        if oracle.workdir is not None:
            existing = Path(oracle.workdir).resolve()
            while not existing.exists():
                existing = existing.parent
            if not existing.is_dir() or not can_create_in(existing):
                problems.append(
                    f"oracle.workdir: cannot create folders under {existing}"
                )
    if store is not None and not store.startswith("postgres"):
        folder = Path(store).resolve().parent
        if not folder.is_dir():
            problems.append(f"store: folder {folder} does not exist")
        elif not can_create_in(folder):
            problems.append(f"store: cannot create files in folder {folder}")
    return problems
