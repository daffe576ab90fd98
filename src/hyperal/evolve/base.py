"""The evolver interface: configure once, ``run(atoms, steps=...) -> EvolveResult``.

Every evolver drives an ASE dynamics (MD integrator, optimizer, contour
exploration, dimer) through its ``irun`` generator and records one
:class:`Frame` per step with the committee's view of it: the unbiased mean
energy Ē, σ_U, the largest mean force and the shortest interatomic distance.
With ``alpha > 0`` the dynamics runs on ``AdversarialBias(calculator, alpha)``
(docs/method.md §2), while the frames still report the unbiased committee.

A trajectory that blows up (non-finite energy, forces or positions; forces
above ``blowup_force_eV_A``; atoms closer than ``blowup_distance_A``) or whose
calculator raises a numerical error stops at once and is marked so; it never
raises out of ``run``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from hyperal.committee.bias import AdversarialBias
from hyperal.evolve.frames import DistanceTracker, EvolveResult, Frame, Status
from hyperal.utils import ParameterError, as_rng

#: Errors a calculator or an ASE dynamics raises on a numerically broken
#: structure; they end a trajectory as "failed" instead of propagating.
NUMERICAL_ERRORS = (ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError)


def check_positive(name: str, value: float, *, strict: bool = True) -> None:
    ok = math.isfinite(value) and (value > 0 if strict else value >= 0)
    if not ok:
        raise ParameterError(
            name, f"must be a finite number {'>' if strict else '>='} 0, got {value}"
        )


def current_results(atoms: Atoms) -> Mapping[str, Any]:
    """Results of ``atoms.calc`` at the current configuration (one state check;
    after a dynamics step they are cached)."""
    calc = atoms.calc
    state = getattr(calc, "atoms", None)
    if (
        state is not None
        and "energy" in calc.results
        and "forces" in calc.results
        and np.array_equal(state.positions, atoms.positions)
        and np.array_equal(state.cell.array, atoms.cell.array)
        and np.array_equal(state.numbers, atoms.numbers)
        and np.array_equal(state.pbc, atoms.pbc)
    ):
        return calc.results  # exact-equality fast path of ASE's check_state
    calc.get_property("forces", atoms)
    if "energy" not in calc.results:
        calc.get_property("energy", atoms)
    return calc.results


@dataclass(eq=False)
class Session:
    """One running evolution: the dynamics' ``irun`` generator (yielding its
    "converged" flag once per step, the start first), how to read the
    calculator results of the current configuration, and an optional hook
    adding end-of-run figures to ``info``."""

    steps: Iterator[bool]
    results: Callable[[Atoms], Mapping[str, Any]] = current_results
    finish: Callable[[dict], None] | None = None


@dataclass(frozen=True, kw_only=True, eq=False)
class Evolver:
    """Base class of the evolvers (not used directly).

    Parameters
    ----------
    calculator : ASE calculator
        Any calculator. With ``alpha > 0`` it must be committee-like
        (:class:`hyperal.Committee`, a BPNN committee calculator).
    alpha : float or "auto"
        Adversarial bias strength α >= 0: the dynamics runs on
        U − α·σ_U, F + α·∇σ_U (docs/method.md §2). 0 runs on ``calculator`` itself.
        ``"auto"``: α is set after every step so that the mean bias force
        |α·∇σ_U| is ``alpha_relative`` times the mean committee force |F̄|
        (means over atoms), smoothed by an exponential moving average — the
        rule of van der Oord et al., npj Comput. Mater. 9, 168 (2023).
    alpha_relative : float
        With ``alpha="auto"``: the target ratio of mean bias force to mean
        committee force.
    alpha_smoothing : float
        With ``alpha="auto"``: the weight of the previous α in the moving
        average (0: α follows each step's target at once).
    max_sigma_eV_atom : float, optional
        An uncertainty cut-off: a frame whose σ_U per atom exceeds it ends
        the run (status ``exploded``) and is dropped, so it is never selected.
    record_every : int
        Record every n-th step (the start and the last frame always).
    blowup_force_eV_A : float
        A frame whose largest mean force exceeds this ends the run as exploded.
    blowup_distance_A : float
        A frame with two atoms closer than this ends the run as exploded.
    rng : numpy Generator, int or None
        Randomness of the dynamics (velocities, thermostat, drift, dimer
        displacement). An int makes every ``run`` repeat the same draws from a
        fresh generator; a Generator is drawn from run after run.
    """

    calculator: Calculator
    alpha: float | Literal["auto"] = 0.0
    alpha_relative: float = 0.1
    alpha_smoothing: float = 0.9
    max_sigma_eV_atom: float | None = None
    record_every: int = 1
    blowup_force_eV_A: float = 500.0
    blowup_distance_A: float = 0.3
    rng: np.random.Generator | int | None = None

    #: Registry-facing name, set by subclasses.
    name: ClassVar[str] = "evolver"
    #: Whether the dynamics' "converged" flag means a real convergence
    #: (optimizers, dimer) rather than "reached the step limit" (MD).
    reports_convergence: ClassVar[bool] = False

    def __post_init__(self):
        if not isinstance(self.calculator, Calculator) and not hasattr(
            self.calculator, "get_property"
        ):
            raise ValueError(
                f"calculator must be an ASE calculator, got {type(self.calculator)}"
            )
        if self.alpha != "auto":
            if isinstance(self.alpha, str):
                raise ParameterError(
                    "alpha",
                    f"must be a finite number >= 0 or 'auto', got {self.alpha!r}",
                )
            check_positive("alpha", self.alpha, strict=False)
        check_positive("alpha_relative", self.alpha_relative)
        if not 0 <= self.alpha_smoothing < 1:
            raise ParameterError(
                "alpha_smoothing", f"must be in [0, 1), got {self.alpha_smoothing}"
            )
        if self.max_sigma_eV_atom is not None:
            check_positive("max_sigma_eV_atom", self.max_sigma_eV_atom)
        check_positive("blowup_force_eV_A", self.blowup_force_eV_A)
        check_positive("blowup_distance_A", self.blowup_distance_A, strict=False)
        if int(self.record_every) != self.record_every or self.record_every < 1:
            raise ParameterError(
                "record_every", f"must be an integer >= 1, got {self.record_every}"
            )

    # --- to implement -------------------------------------------------------------

    def _check(self, atoms: Atoms) -> None:
        """Raise ValueError when ``atoms`` cannot be evolved by this evolver
        (a configuration error, reported before any dynamics runs)."""

    def _start(
        self, atoms: Atoms, steps: int, rng: np.random.Generator, info: dict
    ) -> Session:
        """Set up the ASE dynamics on ``atoms`` (calculator attached) and return
        its ``irun`` generator in a :class:`Session`; put evolver figures into
        ``info``."""
        raise NotImplementedError

    # --- driver -----------------------------------------------------------------

    def dynamics_calculator(self) -> Calculator:
        """The calculator the dynamics runs on: the bias when ``alpha > 0``
        or ``"auto"`` (then starting at α = 0 until the first step sets it)."""
        if self.alpha == "auto":
            return AdversarialBias(self.calculator, 0.0)
        if self.alpha > 0:
            return AdversarialBias(self.calculator, self.alpha)
        return self.calculator

    def run(self, atoms: Atoms, *, steps: int) -> EvolveResult:
        """Evolve a copy of ``atoms`` for at most ``steps`` dynamics steps.

        The input is not modified. Returns the recorded frames and how the
        run ended; a blow-up or numerical failure ends it cleanly.
        """
        if int(steps) != steps or steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {steps}")
        steps = int(steps)
        if len(atoms) == 0:
            raise ValueError("atoms: cannot evolve an empty structure")
        self._check(atoms)
        rng = as_rng(self.rng)
        work = atoms.copy()
        work.calc = self.dynamics_calculator()
        info: dict[str, Any] = {"alpha": self.alpha}
        frames: list[Frame] = []
        status: Status = "step_limit"
        reason = f"reached the step limit ({steps})"
        taken = 0
        last: Frame | None = None
        tuner = (
            _AlphaTuner(self.alpha_relative, self.alpha_smoothing)
            if self.alpha == "auto"
            else None
        )
        try:
            distance = DistanceTracker()
            session = self._start(work, steps, rng, info)
            for index, converged in enumerate(session.steps):
                taken = index
                last = _frame(index, work, session.results(work), distance)
                if self._too_uncertain(last):
                    status = "exploded"
                    reason = (
                        f"step {index}: σ_U {last.sigma_per_atom:.3g} eV/atom above "
                        f"max_sigma_eV_atom={self.max_sigma_eV_atom:g}"
                    )
                    last = frames[-1] if frames else None  # never selected
                    break
                if index % self.record_every == 0:
                    frames.append(last)
                problem = self._blowup(last)
                if problem:
                    status, reason = "exploded", f"step {index}: {problem}"
                    break
                if tuner is not None:
                    tuner.update(work)
                if converged and self.reports_convergence:
                    status, reason = "converged", f"converged after {index} steps"
                    break
            if status != "exploded" and session.finish is not None:
                session.finish(info)
        except NUMERICAL_ERRORS as exc:
            status = "failed"
            reason = f"step {taken + 1}: {type(exc).__name__}: {exc}"
        if last is not None and (not frames or frames[-1] is not last):
            frames.append(last)
        if tuner is not None:
            info.update(tuner.summary())
        return EvolveResult(
            frames=frames,
            status=status,
            reason=reason,
            steps=taken,
            scheme=self.name,
            info=info,
        )

    def _too_uncertain(self, frame: Frame) -> bool:
        limit = self.max_sigma_eV_atom
        return limit is not None and frame.sigma_per_atom > limit

    def _blowup(self, frame: Frame) -> str | None:
        """Why ``frame`` counts as a blown-up trajectory, or None."""
        values = (frame.energy, frame.max_force, frame.min_distance)
        if (
            not np.all(np.isfinite(frame.positions))
            or any(math.isnan(v) for v in values)
            or not math.isfinite(frame.energy)
        ):
            return "non-finite energy, forces or positions"
        if frame.max_force > self.blowup_force_eV_A:
            return (
                f"max force {frame.max_force:.3g} eV/Å above "
                f"blowup_force_eV_A={self.blowup_force_eV_A:g}"
            )
        if frame.min_distance < self.blowup_distance_A:
            return (
                f"atoms {frame.min_distance:.3g} Å apart, closer than "
                f"blowup_distance_A={self.blowup_distance_A:g}"
            )
        return None


class _AlphaTuner:
    """α = ``relative`` · mean|F̄| / mean|∇σ_U| (means over atoms) after each
    step, smoothed as α ← s·α + (1 − s)·target (van der Oord et al., npj
    Comput. Mater. 9, 168 (2023)); the bias's results at the current
    configuration are re-derived for the new α without a new committee call.
    Records α and the bias-to-force ratio each step actually used."""

    def __init__(self, relative: float, smoothing: float):
        self.relative = relative
        self.smoothing = smoothing
        self.alpha: float | None = None
        self.alphas: list[float] = []
        self.ratios: list[float] = []

    def update(self, atoms: Atoms) -> None:
        bias = atoms.calc
        results = current_results(atoms)
        forces = np.asarray(results["committee_forces"])
        gradient = np.asarray(results["energy_uncertainty_gradient"])
        force = float(np.mean(np.linalg.norm(forces, axis=1)))
        push = float(np.mean(np.linalg.norm(gradient, axis=1)))
        if not (push > 0 and force > 0 and math.isfinite(push * force)):
            return  # nothing to scale: keep α
        target = self.relative * force / push
        self.alpha = (
            target
            if self.alpha is None
            else self.smoothing * self.alpha + (1 - self.smoothing) * target
        )
        self.alphas.append(self.alpha)
        self.ratios.append(self.alpha * push / force)  # what the next step uses
        bias.rebias(self.alpha)

    def summary(self) -> dict[str, Any]:
        return {
            "alpha_trace": list(self.alphas),
            "bias_ratio_trace": list(self.ratios),
            "alpha_mean": float(np.mean(self.alphas)) if self.alphas else 0.0,
            "bias_ratio_mean": float(np.mean(self.ratios)) if self.ratios else 0.0,
        }


def _frame(
    step: int, atoms: Atoms, results: Mapping[str, Any], distance: DistanceTracker
) -> Frame:
    """A Frame of ``atoms`` from calculator ``results`` at its configuration."""
    energy = results.get("committee_energy", results.get("energy"))
    forces = results.get("committee_forces", results.get("forces"))
    sigma = results.get("energy_uncertainty", math.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        max_force = float(np.sqrt((np.asarray(forces) ** 2).sum(axis=1)).max())
    return Frame(
        step=step,
        positions=atoms.get_positions(),
        cell=atoms.cell[:].copy(),
        numbers=atoms.numbers.copy(),
        pbc=atoms.pbc.copy(),
        energy=float(energy),
        sigma=float(sigma),
        max_force=max_force,
        min_distance=distance(atoms),
        kinetic_energy=float(atoms.get_kinetic_energy()),
    )
