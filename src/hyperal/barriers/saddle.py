"""Automated saddle search between two minima (docs/method.md §7.3).

:func:`find_saddle` relaxes both ends at fixed cell, interpolates the path
with IDPP (Smidstrup et al., J. Chem. Phys. 140, 214106 (2014)), runs a dimer
search (Henkelman & Jónsson, J. Chem. Phys. 111, 7010 (1999)) from the middle
image with the path tangent as its first mode, and checks that the saddle
connects the two ends: it displaces the saddle both ways along the final
mode, relaxes each, and compares them with the relaxed ends. When the dimer
does not converge or its saddle does not connect the ends, a climbing-image
NEB (Henkelman, Uberuaga & Jónsson, J. Chem. Phys. 113, 9901 (2000)) runs on
the interpolated path instead. A saddle leading from one end to a new
minimum between the ends (an atom resting halfway, e.g. a split vacancy) is
one leg of a hop with an intermediate minimum: the search goes on from there
to the other end, and the hop's barrier is its highest saddle. Everything
is ASE's (``ase.mep``); any ASE calculator works — an oracle, the
committee, its biased form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import find_mic
from ase.mep import NEB
from ase.optimize import FIRE

from hyperal.evolve.dimer import DimerEvolver


@dataclass(frozen=True)
class SaddleResult:
    """What a saddle search found.

    Attributes
    ----------
    barrier_forward, barrier_backward : float
        E(saddle) − E(start) and E(saddle) − E(end) (eV), from the relaxed
        ends.
    saddle, start, end : Atoms
        The saddle and the relaxed ends (no calculator attached).
    method : {"dimer", "neb"}
        Which search produced ``saddle``.
    converged : bool
        The search reached ``fmax``.
    connects : bool
        Relaxing from the saddle both ways along its mode reaches the two
        ends (within ``connect_tolerance_A``).
    steps : dict
        Optimiser steps per stage (``relax_start``, ``relax_end``, ``dimer``,
        ``connect``, ``neb``).
    calls : int
        Calculations made (energy and forces of one structure each).
    reason : str
        Empty when a converged, connecting saddle was found; else why not
        (and why the dimer gave way to NEB, when it did).
    intermediates : tuple of Atoms
        The relaxed minima the hop passes through, start to end (empty for
        an elementary hop); ``saddle`` is then the highest of its saddles.
    """

    barrier_forward: float
    barrier_backward: float
    saddle: Atoms
    start: Atoms
    end: Atoms
    method: Literal["dimer", "neb"]
    converged: bool
    connects: bool
    steps: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    reason: str = ""
    intermediates: tuple[Atoms, ...] = ()

    @property
    def ok(self) -> bool:
        """A barrier to trust: the search converged, the saddle connects the
        ends, and it lies above both (a "saddle" below an end means that end
        was not the path's minimum: the barrier is meaningless)."""
        return (
            self.converged
            and self.connects
            and min(self.barrier_forward, self.barrier_backward) > 0
        )


class _Counting(Calculator):
    """Passes every calculation to ``inner`` and counts them."""

    def __init__(self, inner: Calculator):
        super().__init__()
        self.inner = inner
        self.implemented_properties = list(inner.implemented_properties)
        self.calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        probe = self.atoms.copy()
        probe.calc = self.inner
        self.results = {
            "energy": probe.get_potential_energy(),
            "forces": probe.get_forces(),
        }
        if "free_energy" in self.inner.results:
            self.results["free_energy"] = self.inner.results["free_energy"]
        self.calls += 1


def _relax(atoms: Atoms, calc: Calculator, fmax: float, steps: int) -> tuple:
    work = atoms.copy()
    work.calc = calc
    optimizer = FIRE(work, logfile=None)
    converged = optimizer.run(fmax=fmax, steps=steps)
    return work, bool(converged), int(optimizer.nsteps)


def _plain(atoms: Atoms) -> Atoms:
    out = atoms.copy()
    out.calc = None
    return out


def _max_distance(a: Atoms, b: Atoms) -> float:
    delta, _ = find_mic(a.positions - b.positions, a.cell, a.pbc)
    return float(np.max(np.linalg.norm(delta, axis=1)))


def _distance(a: Atoms, b: Atoms) -> float:
    """The distance of two configurations (Å, all atoms, minimum image)."""
    delta, _ = find_mic(a.positions - b.positions, a.cell, a.pbc)
    return float(np.linalg.norm(delta))


def _frozen(work: Atoms) -> Atoms:
    """A copy of a just-computed structure carrying its energy and forces, so
    that reading them again costs no calculation."""
    out = _plain(work)
    out.calc = SinglePointCalculator(
        out, energy=work.get_potential_energy(), forces=work.get_forces()
    )
    return out


@dataclass
class _Leg:
    """One elementary search between the minima ``a`` and ``b``: its saddle,
    which minima relaxing from the saddle reached (``"start"`` = a, ``"end"``
    = b, or ``"elsewhere"``), the relaxed minimum found elsewhere when the
    other side reached an end (else None), and why the leg failed."""

    saddle: Atoms
    energy: float
    method: Literal["dimer", "neb"]
    converged: bool
    reached: tuple[str, str] = ("", "")
    elsewhere: Atoms | None = None
    why: str = ""

    @property
    def linked(self) -> bool:
        return sorted(self.reached) == ["end", "start"]


def find_saddle(
    start: Atoms,
    end: Atoms,
    calculator: Calculator,
    *,
    fmax: float = 0.03,
    method: Literal["auto", "dimer", "neb"] = "auto",
    relax_steps: int = 500,
    dimer_steps: int = 500,
    neb_images: int = 5,
    neb_steps: int = 500,
    neb_calculator: Callable[[], Calculator] | None = None,
    connect_displacement_A: float = 0.1,
    connect_tolerance_A: float = 0.2,
    relax_fmax: float | None = None,
    intermediates: int = 1,
) -> SaddleResult:
    """The saddle between the minima near ``start`` and ``end``.

    A hop may pass through an intermediate minimum (an interstitial resting
    in a shallow minimum beside its site, a metal atom halfway between two
    lattice sites — a split vacancy): when relaxing from a saddle reaches one
    end and a new minimum lying between the ends, the search goes on from
    that minimum to the other end, up to ``intermediates`` times. The hop's
    barrier is then its highest saddle, measured from each end.

    Parameters
    ----------
    start, end : Atoms
        The hop's two states: the same atoms in the same order (the hopping
        atom moved), the same cell.
    calculator : Calculator
        Any ASE calculator; used for every stage.
    fmax : float
        Force convergence of the saddle searches (eV/Å).
    method : {"auto", "dimer", "neb"}
        ``auto``: the dimer, NEB when it fails; ``dimer`` or ``neb`` alone.
    relax_steps, dimer_steps, neb_steps : int
        Step limits.
    neb_images : int
        Interior NEB images.
    neb_calculator : callable, optional
        Makes one calculator per NEB image (e.g. a light view of one model);
        default: every image shares ``calculator`` (ASE then recomputes more).
    connect_displacement_A : float
        How far the saddle is pushed along its mode (largest atom move, Å)
        before relaxing each way.
    connect_tolerance_A : float
        A relaxed structure "is" an end when no atom is further than this
        from its position there (Å).
    relax_fmax : float, optional
        Force convergence of the relaxations — the ends and the connection
        check (eV/Å); default ``fmax``. On a soft landscape a loose
        relaxation stops on the shoulder of a saddle, far from any minimum,
        and the check then fails for a saddle that does connect the ends.
    intermediates : int
        How many intermediate minima a hop may pass through (0: the saddle
        must connect the ends directly).
    """
    if len(start) != len(end) or list(start.numbers) != list(end.numbers):
        raise ValueError("start and end must hold the same atoms in the same order")
    if not np.allclose(start.cell[:], end.cell[:]):
        raise ValueError("start and end must have the same cell")
    if method not in ("auto", "dimer", "neb"):
        raise ValueError(f"method must be auto, dimer or neb, got {method!r}")
    if int(intermediates) < 0:
        raise ValueError(f"intermediates must be >= 0, got {intermediates}")
    relax_fmax = fmax if relax_fmax is None else float(relax_fmax)
    if not relax_fmax > 0:
        raise ValueError(f"relax_fmax must be > 0, got {relax_fmax}")
    calc = _Counting(calculator)
    steps: dict[str, int] = {}

    def relax(atoms: Atoms) -> tuple[Atoms, bool, int]:
        work, converged, n = _relax(atoms, calc, relax_fmax, relax_steps)
        return _frozen(work), converged, n

    start_relaxed, ok_start, steps["relax_start"] = relax(start)
    end_relaxed, ok_end, steps["relax_end"] = relax(end)
    if _max_distance(start_relaxed, end_relaxed) < connect_tolerance_A:
        raise ValueError("start and end relax to the same minimum: no hop to search")
    reasons = []
    if not (ok_start and ok_end):
        reasons.append(
            f"an end did not relax within relax_steps (start {ok_start}, end {ok_end})"
        )

    def count(stage: str, n: int) -> None:
        steps[stage] = steps.get(stage, 0) + int(n)

    def between(m: Atoms, a: Atoms, b: Atoms) -> bool:
        d = _distance(a, b)
        return _distance(m, a) < d and _distance(m, b) < d

    def connects(leg: _Leg, mode: np.ndarray, a: Atoms, b: Atoms) -> None:
        """Relax from the saddle both ways along ``mode``; say what each
        side reached."""
        mode = mode / np.max(np.linalg.norm(mode, axis=1))
        found, new = [], []
        for sign in (1.0, -1.0):
            pushed = _plain(leg.saddle)
            pushed.positions += sign * connect_displacement_A * mode
            relaxed, converged, n = relax(pushed)
            count("connect", n)
            where = (
                "start"
                if _max_distance(relaxed, a) < connect_tolerance_A
                else "end"
                if _max_distance(relaxed, b) < connect_tolerance_A
                else "elsewhere"
            )
            found.append(where)
            if where == "elsewhere" and converged:
                new.append(relaxed)
        leg.reached = (found[0], found[1])
        if not leg.linked:
            leg.why = f"relaxing from the saddle reached {found[0]} and {found[1]}"
            if found.count("elsewhere") == 1 and new:  # one end, one new minimum
                leg.elsewhere = new[0]

    def keep_pause(leg: _Leg, a: Atoms, b: Atoms, may_pause: bool) -> None:
        """Keep ``leg.elsewhere`` only as an intermediate minimum to go on
        from: allowed, the leg converged, the minimum lies between a and b."""
        if not (
            may_pause
            and leg.converged
            and leg.elsewhere is not None
            and between(leg.elsewhere, a, b)
        ):
            leg.elsewhere = None

    def saddle_energy(saddle: Atoms) -> float:
        probe = _plain(saddle)
        probe.calc = calc
        return float(probe.get_potential_energy())

    def elementary(a: Atoms, b: Atoms, may_pause: bool) -> _Leg:
        """The saddle between the minima ``a`` and ``b``: the dimer from the
        middle of the interpolated path, NEB when it fails. With
        ``may_pause`` a dimer saddle joining one of them to a new minimum
        between them is accepted."""
        images = [_plain(a)] + [_plain(a) for _ in range(int(neb_images))]
        images += [_plain(b)]
        NEB(images, method="improvedtangent").interpolate(method="idpp", mic=True)
        failed = []
        if method in ("auto", "dimer"):
            k = len(images) // 2
            middle = images[k]
            tangent, _ = find_mic(
                images[k + 1].positions - images[k - 1].positions,
                middle.cell,
                middle.pbc,
            )
            dimer = DimerEvolver(calculator=calc, mode=tangent, fmax_eV_A=fmax, rng=0)
            outcome = dimer.run(middle, steps=dimer_steps)
            count("dimer", outcome.steps)
            saddle = outcome.frames[-1].to_atoms()
            leg = _Leg(saddle, 0.0, "dimer", outcome.status == "converged")
            if leg.converged:
                connects(leg, outcome.info["eigenmode"], a, b)
            else:
                leg.why = f"the dimer did not converge ({outcome.reason})"
            keep_pause(leg, a, b, may_pause)
            if (leg.converged and (leg.linked or leg.elsewhere is not None)) or (
                method == "dimer"
            ):
                leg.energy = saddle_energy(saddle)
                return leg
            failed.append(leg.why + "; NEB with a climbing image instead")

        for image, relaxed in ((images[0], a), (images[-1], b)):
            image.calc = SinglePointCalculator(
                image,
                energy=relaxed.get_potential_energy(),
                forces=relaxed.get_forces(),
            )
        if neb_calculator is None:
            for image in images[1:-1]:
                image.calc = calc
            neb = NEB(
                images,
                climb=True,
                method="improvedtangent",
                allow_shared_calculator=True,
            )
        else:
            for image in images[1:-1]:
                image.calc = _Counting(neb_calculator())
            neb = NEB(images, climb=True, method="improvedtangent")
        optimizer = FIRE(neb, logfile=None)
        converged = bool(optimizer.run(fmax=fmax, steps=neb_steps))
        count("neb", optimizer.nsteps)
        if neb_calculator is not None:
            calc.calls += sum(image.calc.calls for image in images[1:-1])
        energies = [float(image.get_potential_energy()) for image in images[1:-1]]
        top = 1 + int(np.argmax(energies))
        tangent, _ = find_mic(
            images[top + 1].positions - images[top - 1].positions,
            images[top].cell,
            images[top].pbc,
        )
        leg = _Leg(_plain(images[top]), energies[top - 1], "neb", converged)
        connects(leg, tangent, a, b)
        if not converged:
            leg.why = "; ".join(
                w for w in (f"NEB did not converge in {neb_steps} steps", leg.why) if w
            )
        failed.append(leg.why)
        leg.why = "; ".join(w for w in failed if w)
        keep_pause(leg, a, b, may_pause)
        return leg

    budget = int(intermediates)

    def walk(a: Atoms, b: Atoms) -> tuple[list[_Leg], list[Atoms]]:
        """The legs from ``a`` to ``b`` and the intermediate minima between
        them, both in path order, while the budget lasts."""
        nonlocal budget
        leg = elementary(a, b, may_pause=budget > 0)
        if leg.linked or leg.elsewhere is None:
            return [leg], []
        budget -= 1
        middle = leg.elsewhere
        forward = "start" in leg.reached  # a -> middle found; middle -> b to go
        leg.reached, leg.why = ("start", "end"), ""
        if forward:
            legs, minima = walk(middle, b)
            return [leg, *legs], [middle, *minima]
        legs, minima = walk(a, middle)
        return [*legs, leg], [*minima, middle]

    legs, minima = walk(start_relaxed, end_relaxed)
    top = max(legs, key=lambda leg: leg.energy)
    e_start = float(start_relaxed.get_potential_energy())
    e_end = float(end_relaxed.get_potential_energy())
    reasons += [leg.why for leg in legs if leg.why]
    return SaddleResult(
        top.energy - e_start,
        top.energy - e_end,
        _plain(top.saddle),
        _plain(start_relaxed),
        _plain(end_relaxed),
        top.method,
        all(leg.converged for leg in legs),
        all(leg.linked for leg in legs),
        dict(steps),
        calc.calls,
        "; ".join(reasons),
        tuple(_plain(m) for m in minima),
    )
