"""The bill before the run: how many oracle calls a run file implies.

Every workflow knows, before anything runs, which structures it will hand to
the oracle — the starts are pure functions of the file and its seed — and how
many calls each can cost at most (a relaxation of ``relax_steps`` costs at
most ``relax_steps + 1``; an evolved trajectory at most one label). A
:class:`Plan` lists them as :class:`PlanStage` rows, each a group of pool
tasks with its calls and atoms per task, and prices them with a
:class:`CostModel`: oracle seconds, a wall time on the configured executor,
and core-hours.

The counts are exact where the file fixes them and upper bounds where the
run decides (a relaxation that converges early, a frame skipped as
unphysical, an early stop); every stage says which. The wall time counts
oracle calls only — fits and evolutions come on top — with the executor's
label workers all busy: a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hyperal.runs.executors import EXECUTORS
from hyperal.runs.records import MAIN_RUN
from hyperal.runs.sections import ExecutorConfig


@dataclass(frozen=True)
class PlanStage:
    """A group of oracle tasks: ``calls[i]`` oracle calls (at most, unless
    ``exact``; at least, when ``unbounded``: a task whose calls no setting
    bounds beforehand, such as an oracle saddle search) on a structure of
    ``atoms[i]`` atoms, one pool task each."""

    loop: int | None
    what: str
    calls: tuple[int, ...]
    atoms: tuple[int, ...]
    exact: bool = True
    run: str = MAIN_RUN
    unbounded: bool = False

    @property
    def bound(self) -> str:
        """How ``total_calls`` holds: ``=``, ``≤`` or ``≥``."""
        return "≥" if self.unbounded else ("=" if self.exact else "≤")

    @property
    def tasks(self) -> int:
        return len(self.calls)

    @property
    def total_calls(self) -> int:
        return sum(self.calls)

    def atoms_text(self) -> str:
        if not self.atoms:
            return "–"
        low, high = min(self.atoms), max(self.atoms)
        return str(low) if low == high else f"{low}–{high}"


@dataclass(frozen=True)
class CostModel:
    """What one oracle call costs: ``seconds_per_call`` each, or
    ``seconds_per_atom`` × the structure's atoms (a linear model: plane-wave
    DFT grows faster with size, so for cells much larger than the ones a
    per-atom cost was measured on it underestimates)."""

    seconds_per_call: float | None = None
    seconds_per_atom: float | None = None

    def __post_init__(self):
        given = [v for v in (self.seconds_per_call, self.seconds_per_atom) if v]
        if len(given) > 1:
            raise ValueError("give seconds per call or seconds per atom, not both")
        if any(v is not None and v < 0 for v in given):
            raise ValueError("a cost cannot be negative")

    @property
    def given(self) -> bool:
        return bool(self.seconds_per_call or self.seconds_per_atom)

    def seconds(self, calls: int, atoms: int) -> float:
        """The cost of ``calls`` calls on a structure of ``atoms`` atoms."""
        if self.seconds_per_atom:
            return calls * atoms * self.seconds_per_atom
        return calls * (self.seconds_per_call or 0.0)

    def describe(self) -> str:
        if self.seconds_per_atom:
            return f"{self.seconds_per_atom:g} s per atom per call (linear in size)"
        return f"{self.seconds_per_call:g} s per call"


@dataclass(frozen=True)
class Workers:
    """How many oracle calls the executor runs at once, and the cores each
    holds (for core-hours)."""

    at_once: int
    cores_per_call: int
    where: str

    @classmethod
    def of(cls, executor: ExecutorConfig, cores_per_call: int | None = None):
        at_once, cores, where = EXECUTORS[executor.kind].label_workers(executor)
        return cls(at_once, cores_per_call or cores, where)


@dataclass
class Plan:
    """The oracle work a run file implies (:mod:`hyperal.runs.plan`)."""

    what: str
    stages: list[PlanStage]
    workers: Workers
    notes: list[str] = field(default_factory=list)

    @property
    def total_calls(self) -> int:
        return sum(s.total_calls for s in self.stages)

    @property
    def bound(self) -> str:
        """How ``total_calls`` holds for the whole plan: ``=`` when every
        stage is exact, ``≥`` when any is unbounded (then it is a floor),
        else ``≤``."""
        bounds = {s.bound for s in self.stages}
        return "≥" if "≥" in bounds else ("≤" if "≤" in bounds else "=")

    def loop_calls(self, run: str | None = None) -> dict[int, int]:
        """Calls per loop (of one run, or all), in loop order."""
        out: dict[int, int] = {}
        for s in self.stages:
            if s.loop is not None and (run is None or s.run == run):
                out[s.loop] = out.get(s.loop, 0) + s.total_calls
        return dict(sorted(out.items()))

    def oracle_seconds(self, stage: PlanStage, cost: CostModel) -> float:
        return sum(
            cost.seconds(c, n) for c, n in zip(stage.calls, stage.atoms, strict=True)
        )

    def wall_seconds(self, stage: PlanStage, cost: CostModel) -> float:
        """The stage's oracle time spread over the label workers, but never
        less than its longest task (a relaxation's calls follow each other):
        a lower bound."""
        longest = max(
            (cost.seconds(c, n) for c, n in zip(stage.calls, stage.atoms, strict=True)),
            default=0.0,
        )
        return max(self.oracle_seconds(stage, cost) / self.workers.at_once, longest)

    def core_hours(self, cost: CostModel) -> float:
        seconds = sum(self.oracle_seconds(s, cost) for s in self.stages)
        return seconds * self.workers.cores_per_call / 3600.0
