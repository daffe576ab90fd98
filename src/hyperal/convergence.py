"""Whether a calculation's results are data: convergence read the way each
calculator reports it (:func:`unconverged`; a code's own output where ASE
reads it without complaint, :data:`OUTPUT_CHECKS`) and finite values
(:func:`nonfinite`). The oracle (:mod:`hyperal.oracle`) asks both of every
call and stores a failed label, never data, when either answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator

__all__ = ["OUTPUT_CHECKS", "nonfinite", "unconverged"]


def _false(value) -> bool:
    return isinstance(value, (bool, np.bool_)) and not bool(value)


def _espresso_unconverged(calc) -> bool:
    # pw.x prints this when the SCF stops at electron_maxstep; with
    # scf_must_converge = .false. it still prints forces, which ASE reads
    template = getattr(calc, "template", None)
    output = Path(str(calc.directory)) / getattr(template, "outputname", "espresso.pwo")
    try:
        return "convergence NOT achieved" in output.read_text(errors="replace")
    except OSError:
        return False


OUTPUT_CHECKS: dict[str, Callable[[Calculator], bool]] = {
    "Espresso": _espresso_unconverged,
}
"""Calculator class name -> a check of its own output for an unconverged
SCF that ASE reads without complaint."""


def unconverged(calc) -> str:
    """Why ``calc``'s last calculation did not converge ('' when it did, or
    when the calculator does not say). Read in order: ``results["converged"]``
    (any calculator may set it), a boolean ``converged`` attribute (ASE's
    VASP calculator sets it from OUTCAR), the calculator's own output
    (:data:`OUTPUT_CHECKS`: Quantum ESPRESSO). GPAW and FHI-aims raise on an
    unconverged SCF; such a call fails by its exception."""
    results = getattr(calc, "results", None) or {}
    if _false(results.get("converged")):
        return "the calculator reports no convergence"
    if _false(getattr(calc, "converged", None)):
        return f"{type(calc).__name__} reports no convergence (converged = False)"
    check = OUTPUT_CHECKS.get(type(calc).__name__)
    if check is not None and check(calc):
        return f"{type(calc).__name__}'s output says the SCF did not converge"
    return ""


def nonfinite(energy, forces, stress) -> str:
    """'' when every value given is finite, else the failure reason
    ('non-finite forces', ...)."""
    bad = [
        key
        for key, value in (("energy", energy), ("forces", forces), ("stress", stress))
        if value is not None and not np.all(np.isfinite(value))
    ]
    return f"non-finite {', '.join(bad)}" if bad else ""
