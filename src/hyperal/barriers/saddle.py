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

from ase import Atoms
from ase.calculators.calculator import Calculator

from hyperal.barriers.legs import SaddleSearch, plain
from hyperal.barriers.options import SaddleOptions


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
        ends (within the options' ``connect_tolerance_A``).
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
    ends_relaxed : bool
        Both ends converged within ``relax_steps`` (false: the calculator
        may have no minimum there — an instability of a committee).
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
    ends_relaxed: bool = True

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


def find_saddle(
    start: Atoms,
    end: Atoms,
    calculator: Calculator,
    options: SaddleOptions | None = None,
    *,
    neb_calculator: Callable[[], Calculator] | None = None,
    **changes,
) -> SaddleResult:
    """The saddle between the minima near ``start`` and ``end``.

    A hop may pass through an intermediate minimum (an interstitial resting
    in a shallow minimum beside its site, a metal atom halfway between two
    lattice sites — a split vacancy): when relaxing from a saddle reaches one
    end and a new minimum lying between the ends, the search goes on from
    that minimum to the other end, up to ``options.intermediates`` times.
    The hop's barrier is then its highest saddle, measured from each end.

    Parameters
    ----------
    start, end : Atoms
        The hop's two states: the same atoms in the same order (the hopping
        atom moved), the same cell.
    calculator : Calculator
        Any ASE calculator; used for every stage.
    options : SaddleOptions, optional
        How the saddle is searched (a barrier file's ``saddle`` section);
        default: :class:`~hyperal.barriers.options.SaddleOptions`'s
        defaults.
    neb_calculator : callable, optional
        Makes one calculator per NEB image (e.g. a light view of one model);
        default: every image shares ``calculator`` (ASE then recomputes more).
    **changes
        Keys of :class:`~hyperal.barriers.options.SaddleOptions` to change,
        e.g. ``method="neb"``, ``fmax_eV_A=0.03``, ``intermediates=0``; a
        wrong key or value raises pydantic's ValidationError (a ValueError).
    """
    search = SaddleSearch(calculator, options, neb_calculator=neb_calculator, **changes)
    start_relaxed, end_relaxed, reasons = search.relax_ends(start, end)
    ends_relaxed = not reasons  # its only reason: an end that did not converge
    legs, minima = search.walk(start_relaxed, end_relaxed)
    top = max(legs, key=lambda leg: leg.energy)
    e_start = float(start_relaxed.get_potential_energy())
    e_end = float(end_relaxed.get_potential_energy())
    reasons += [leg.why for leg in legs if leg.why]
    return SaddleResult(
        top.energy - e_start,
        top.energy - e_end,
        plain(top.saddle),
        plain(start_relaxed),
        plain(end_relaxed),
        top.method,
        all(leg.converged for leg in legs),
        all(leg.linked for leg in legs),
        dict(search.steps),
        search.calc.calls,
        "; ".join(reasons),
        tuple(plain(m) for m in minima),
        ends_relaxed,
    )
