"""Automated saddle search between two minima (docs/method.md §7.3).

:func:`find_saddle` relaxes both ends at fixed cell, interpolates the path
with IDPP (Smidstrup et al., J. Chem. Phys. 140, 214106 (2014)), runs a dimer
search (Henkelman & Jónsson, J. Chem. Phys. 111, 7010 (1999)) from the middle
image with the path tangent as its first mode, and checks that the saddle
connects the two ends: it displaces the saddle both ways along the final
mode, relaxes each, and compares them with the relaxed ends. When the dimer
does not converge or its saddle does not connect the ends, a climbing-image
NEB (Henkelman, Uberuaga & Jónsson, J. Chem. Phys. 113, 9901 (2000)) runs on
the interpolated path instead. Everything is ASE's (``ase.mep``); any ASE
calculator works — an oracle, the committee, its biased form.
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
) -> SaddleResult:
    """The saddle between the minima near ``start`` and ``end``.

    Parameters
    ----------
    start, end : Atoms
        The hop's two states: the same atoms in the same order (the hopping
        atom moved), the same cell.
    calculator : Calculator
        Any ASE calculator; used for every stage.
    fmax : float
        Force convergence of the relaxations and searches (eV/Å).
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
    """
    if len(start) != len(end) or list(start.numbers) != list(end.numbers):
        raise ValueError("start and end must hold the same atoms in the same order")
    if not np.allclose(start.cell[:], end.cell[:]):
        raise ValueError("start and end must have the same cell")
    if method not in ("auto", "dimer", "neb"):
        raise ValueError(f"method must be auto, dimer or neb, got {method!r}")
    calc = _Counting(calculator)
    steps: dict[str, int] = {}
    start_relaxed, ok_start, steps["relax_start"] = _relax(
        start, calc, fmax, relax_steps
    )
    end_relaxed, ok_end, steps["relax_end"] = _relax(end, calc, fmax, relax_steps)
    e_start = float(start_relaxed.get_potential_energy())
    e_end = float(end_relaxed.get_potential_energy())
    if _max_distance(start_relaxed, end_relaxed) < connect_tolerance_A:
        raise ValueError("start and end relax to the same minimum: no hop to search")
    reasons = []
    if not (ok_start and ok_end):
        reasons.append(
            f"an end did not relax within relax_steps (start {ok_start}, end {ok_end})"
        )

    images = [_plain(start_relaxed)]
    images += [_plain(start_relaxed) for _ in range(int(neb_images))]
    images += [_plain(end_relaxed)]
    NEB(images, method="improvedtangent").interpolate(method="idpp", mic=True)

    def connects(saddle: Atoms, mode: np.ndarray) -> tuple[bool, int, str]:
        mode = mode / np.max(np.linalg.norm(mode, axis=1))
        found, used = [], 0
        for sign in (1.0, -1.0):
            pushed = _plain(saddle)
            pushed.positions += sign * connect_displacement_A * mode
            relaxed, _, n = _relax(pushed, calc, fmax, relax_steps)
            used += n
            found.append(
                "start"
                if _max_distance(relaxed, start_relaxed) < connect_tolerance_A
                else "end"
                if _max_distance(relaxed, end_relaxed) < connect_tolerance_A
                else "elsewhere"
            )
        ok = sorted(found) == ["end", "start"]
        why = (
            "" if ok else f"relaxing from the saddle reached {found[0]} and {found[1]}"
        )
        return ok, used, why

    def result(saddle, method_used, converged, linked) -> SaddleResult:
        probe = _plain(saddle)
        probe.calc = calc
        energy = float(probe.get_potential_energy())
        return SaddleResult(
            energy - e_start,
            energy - e_end,
            _plain(saddle),
            _plain(start_relaxed),
            _plain(end_relaxed),
            method_used,
            converged,
            linked,
            dict(steps),
            calc.calls,
            "; ".join(reasons),
        )

    if method in ("auto", "dimer"):
        middle = images[len(images) // 2]
        tangent, _ = find_mic(
            images[len(images) // 2 + 1].positions
            - images[len(images) // 2 - 1].positions,
            middle.cell,
            middle.pbc,
        )
        dimer = DimerEvolver(calculator=calc, mode=tangent, fmax_eV_A=fmax, rng=0)
        outcome = dimer.run(middle, steps=dimer_steps)
        steps["dimer"] = outcome.steps
        saddle = outcome.frames[-1].to_atoms()
        converged = outcome.status == "converged"
        linked, steps["connect"], why = (False, 0, "")
        if converged:
            linked, steps["connect"], why = connects(saddle, outcome.info["eigenmode"])
        else:
            why = f"the dimer did not converge ({outcome.reason})"
        if (converged and linked) or method == "dimer":
            if why:
                reasons.append(why)
            return result(saddle, "dimer", converged, linked)
        reasons.append(why + "; NEB with a climbing image instead")

    # the ends are relaxed already: their energies as fixed results
    for image, relaxed in ((images[0], start_relaxed), (images[-1], end_relaxed)):
        image.calc = SinglePointCalculator(
            image,
            energy=relaxed.get_potential_energy(),
            forces=relaxed.get_forces(),
        )
    if neb_calculator is None:
        for image in images[1:-1]:
            image.calc = calc
        neb = NEB(
            images, climb=True, method="improvedtangent", allow_shared_calculator=True
        )
    else:
        for image in images[1:-1]:
            image.calc = _Counting(neb_calculator())
        neb = NEB(images, climb=True, method="improvedtangent")
    optimizer = FIRE(neb, logfile=None)
    converged = bool(optimizer.run(fmax=fmax, steps=neb_steps))
    steps["neb"] = int(optimizer.nsteps)
    if neb_calculator is not None:
        calc.calls += sum(image.calc.calls for image in images[1:-1])
    energies = [float(image.get_potential_energy()) for image in images[1:-1]]
    top = 1 + int(np.argmax(energies))
    saddle = images[top]
    tangent, _ = find_mic(
        images[top + 1].positions - images[top - 1].positions, saddle.cell, saddle.pbc
    )
    if not converged:
        reasons.append(f"NEB did not converge in {neb_steps} steps")
    linked, steps["connect"], why = connects(saddle, tangent)
    if why:
        reasons.append(why)
    return result(saddle, "neb", converged, linked)
