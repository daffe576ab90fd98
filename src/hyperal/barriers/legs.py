"""The legs of a saddle search, each runnable and testable on its own
(:class:`SaddleSearch`): relaxing the ends, the interpolated path, the
dimer leg (Henkelman & Jónsson, J. Chem. Phys. 111, 7010 (1999)), the
climbing-image NEB leg (Henkelman, Uberuaga & Jónsson, J. Chem. Phys. 113,
9901 (2000)), the connection check, and the walk through intermediate
minima. :func:`hyperal.barriers.saddle.find_saddle` composes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.geometry import find_mic
from ase.mep import NEB
from ase.optimize import FIRE

from hyperal.barriers.options import SaddleOptions
from hyperal.evolve.dimer import DimerEvolver
from hyperal.utils import changed


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


def plain(atoms: Atoms) -> Atoms:
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
    out = plain(work)
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


class SaddleSearch:
    """The legs of a saddle search, each a method that can run on its own:
    :meth:`relax_ends`, :meth:`dimer_leg`, :meth:`neb_leg`, :meth:`connect`,
    composed by :meth:`elementary` (the dimer, NEB when it fails) and
    :meth:`walk` (through intermediate minima). Every calculation goes
    through one counting calculator (``calc.calls``); optimiser steps are
    summed per stage in ``steps``. Its settings are one
    :class:`~hyperal.barriers.options.SaddleOptions` (``options``, with any
    of its keys changed by keyword: ``SaddleSearch(calc, method="neb")``);
    ``neb_calculator`` makes one calculator per NEB image (a light view of
    one model; default: every image shares ``calculator``)."""

    def __init__(
        self,
        calculator: Calculator,
        options: SaddleOptions | None = None,
        *,
        neb_calculator: Callable[[], Calculator] | None = None,
        **changes,
    ):
        options = changed(options or SaddleOptions(), **changes)
        self.options = options
        self.calc = _Counting(calculator)
        self.neb_calculator = neb_calculator
        #: intermediate minima the walk may still pass through
        self.budget = options.intermediates
        self.steps: dict[str, int] = {}

    def count(self, stage: str, n: int) -> None:
        self.steps[stage] = self.steps.get(stage, 0) + int(n)

    def relax(self, atoms: Atoms) -> tuple[Atoms, bool, int]:
        """``atoms`` relaxed at fixed cell (carrying its energy and forces),
        whether it converged, and the optimiser's steps."""
        work, converged, n = _relax(
            atoms, self.calc, self.options.relax_fmax, self.options.relax_steps
        )
        return _frozen(work), converged, n

    def relax_ends(self, start: Atoms, end: Atoms) -> tuple[Atoms, Atoms, list[str]]:
        """Both ends relaxed, and why the search is already in doubt (an end
        that did not converge). ValueError when they relax to one minimum."""
        if len(start) != len(end) or list(start.numbers) != list(end.numbers):
            raise ValueError("start and end must hold the same atoms in the same order")
        if not np.allclose(start.cell[:], end.cell[:]):
            raise ValueError("start and end must have the same cell")
        start_relaxed, ok_start, self.steps["relax_start"] = self.relax(start)
        end_relaxed, ok_end, self.steps["relax_end"] = self.relax(end)
        if _max_distance(start_relaxed, end_relaxed) < self.options.tolerance:
            raise ValueError(
                "start and end relax to the same minimum: no hop to search"
            )
        reasons = []
        if not (ok_start and ok_end):
            reasons.append(
                "an end did not relax within relax_steps "
                f"(start {ok_start}, end {ok_end})"
            )
        return start_relaxed, end_relaxed, reasons

    def connect(self, leg: _Leg, mode: np.ndarray, a: Atoms, b: Atoms) -> None:
        """Relax from the saddle both ways along ``mode``; say on ``leg``
        what each side reached (``a`` "start", ``b`` "end", or "elsewhere",
        keeping a converged new minimum when the other side reached an end)."""
        mode = mode / np.max(np.linalg.norm(mode, axis=1))
        found, new = [], []
        for sign in (1.0, -1.0):
            pushed = plain(leg.saddle)
            pushed.positions += sign * self.options.displacement * mode
            relaxed, converged, n = self.relax(pushed)
            self.count("connect", n)
            where = (
                "start"
                if _max_distance(relaxed, a) < self.options.tolerance
                else "end"
                if _max_distance(relaxed, b) < self.options.tolerance
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

    @staticmethod
    def keep_pause(leg: _Leg, a: Atoms, b: Atoms, may_pause: bool) -> None:
        """Keep ``leg.elsewhere`` only as an intermediate minimum to go on
        from: allowed, the leg converged, the minimum lies between a and b."""
        if not (
            may_pause
            and leg.converged
            and leg.elsewhere is not None
            and _between(leg.elsewhere, a, b)
        ):
            leg.elsewhere = None

    def saddle_energy(self, saddle: Atoms) -> float:
        probe = plain(saddle)
        probe.calc = self.calc
        return float(probe.get_potential_energy())

    def path(self, a: Atoms, b: Atoms) -> list[Atoms]:
        """The IDPP-interpolated path from ``a`` to ``b``, ends included."""
        images = [plain(a)] + [plain(a) for _ in range(self.options.neb_images)]
        images += [plain(b)]
        NEB(images, method="improvedtangent").interpolate(method="idpp", mic=True)
        return images

    def dimer_leg(self, a: Atoms, b: Atoms, images: list[Atoms]) -> _Leg:
        """The dimer from the middle image of ``images`` (the path from
        ``a`` to ``b``) with the path tangent as its first mode; a converged
        saddle is checked with :meth:`connect` along its final mode."""
        k = len(images) // 2
        middle = images[k]
        tangent, _ = find_mic(
            images[k + 1].positions - images[k - 1].positions,
            middle.cell,
            middle.pbc,
        )
        dimer = DimerEvolver(
            calculator=self.calc, mode=tangent, fmax_eV_A=self.options.fmax_eV_A, rng=0
        )
        outcome = dimer.run(middle, steps=self.options.dimer_steps)
        self.count("dimer", outcome.steps)
        saddle = outcome.frames[-1].to_atoms()
        leg = _Leg(saddle, 0.0, "dimer", outcome.status == "converged")
        if leg.converged:
            self.connect(leg, outcome.info["eigenmode"], a, b)
        else:
            leg.why = f"the dimer did not converge ({outcome.reason})"
        return leg

    def neb_leg(self, a: Atoms, b: Atoms, images: list[Atoms]) -> _Leg:
        """A climbing-image NEB on ``images`` (the path from the relaxed
        minima ``a`` to ``b``); its highest image, checked with
        :meth:`connect` along the path tangent there."""
        for image, relaxed in ((images[0], a), (images[-1], b)):
            image.calc = SinglePointCalculator(
                image,
                energy=relaxed.get_potential_energy(),
                forces=relaxed.get_forces(),
            )
        if self.neb_calculator is None:
            for image in images[1:-1]:
                image.calc = self.calc
            neb = NEB(
                images,
                climb=True,
                method="improvedtangent",
                allow_shared_calculator=True,
            )
        else:
            for image in images[1:-1]:
                image.calc = _Counting(self.neb_calculator())
            neb = NEB(images, climb=True, method="improvedtangent")
        optimizer = FIRE(neb, logfile=None)
        converged = bool(
            optimizer.run(fmax=self.options.fmax_eV_A, steps=self.options.neb_steps)
        )
        self.count("neb", optimizer.nsteps)
        if self.neb_calculator is not None:
            self.calc.calls += sum(image.calc.calls for image in images[1:-1])
        energies = [float(image.get_potential_energy()) for image in images[1:-1]]
        top = 1 + int(np.argmax(energies))
        tangent, _ = find_mic(
            images[top + 1].positions - images[top - 1].positions,
            images[top].cell,
            images[top].pbc,
        )
        leg = _Leg(plain(images[top]), energies[top - 1], "neb", converged)
        self.connect(leg, tangent, a, b)
        if not converged:
            leg.why = "; ".join(
                w
                for w in (
                    f"NEB did not converge in {self.options.neb_steps} steps",
                    leg.why,
                )
                if w
            )
        return leg

    def elementary(self, a: Atoms, b: Atoms, may_pause: bool) -> _Leg:
        """The saddle between the minima ``a`` and ``b``: the dimer from the
        middle of the interpolated path, NEB when it fails. With
        ``may_pause`` a dimer saddle joining one of them to a new minimum
        between them is accepted."""
        images = self.path(a, b)
        failed = []
        if self.options.method in ("auto", "dimer"):
            leg = self.dimer_leg(a, b, images)
            self.keep_pause(leg, a, b, may_pause)
            if (leg.converged and (leg.linked or leg.elsewhere is not None)) or (
                self.options.method == "dimer"
            ):
                leg.energy = self.saddle_energy(leg.saddle)
                return leg
            failed.append(leg.why + "; NEB with a climbing image instead")
        leg = self.neb_leg(a, b, images)
        failed.append(leg.why)
        leg.why = "; ".join(w for w in failed if w)
        self.keep_pause(leg, a, b, may_pause)
        return leg

    def walk(self, a: Atoms, b: Atoms) -> tuple[list[_Leg], list[Atoms]]:
        """The legs from ``a`` to ``b`` and the intermediate minima between
        them, both in path order, while the budget lasts."""
        leg = self.elementary(a, b, may_pause=self.budget > 0)
        if leg.linked or leg.elsewhere is None:
            return [leg], []
        self.budget -= 1
        middle = leg.elsewhere
        forward = "start" in leg.reached  # a -> middle found; middle -> b to go
        leg.reached, leg.why = ("start", "end"), ""
        if forward:
            legs, minima = self.walk(middle, b)
            return [leg, *legs], [middle, *minima]
        legs, minima = self.walk(a, middle)
        return [*legs, leg], [*minima, middle]


def _between(m: Atoms, a: Atoms, b: Atoms) -> bool:
    """Whether ``m`` is nearer to both ``a`` and ``b`` than they are to each
    other."""
    d = _distance(a, b)
    return _distance(m, a) < d and _distance(m, b) < d
