"""Size limits: requests that would not fit (or would run for days) are
refused before any work starts, with an estimate of what they would need.

Each limit has a default that suits reference-data workflows and an
environment variable that raises it:

============================  =======  =======================================
variable                      default  what it bounds
============================  =======  =======================================
``HYPERAL_MAX_ATOMS``         20000    atoms in one structure
``HYPERAL_MAX_STRUCTURES``    100000   structures made by one request
``HYPERAL_MAX_CELLS``         32       supercell size of an enumeration
``HYPERAL_MAX_PARAMETERS``    10**7    weights of a committee (all members)
``HYPERAL_MAX_FRAME_ATOMS``   10**8    recorded frames × atoms, one evolution
============================  =======  =======================================
"""

from __future__ import annotations

import os

DEFAULTS = {
    "HYPERAL_MAX_ATOMS": 20_000,
    "HYPERAL_MAX_STRUCTURES": 100_000,
    "HYPERAL_MAX_CELLS": 32,
    "HYPERAL_MAX_PARAMETERS": 10_000_000,
    "HYPERAL_MAX_FRAME_ATOMS": 100_000_000,
}

#: Bytes an ASE Atoms object holds per atom (positions, numbers, momenta,
#: masses ... as float64/int64), for the memory estimate of a refusal.
BYTES_PER_ATOM = 120


def limit(variable: str) -> int:
    """The limit named by ``variable`` (its environment value, else the
    default); a value that is not a positive integer is an error."""
    text = os.environ.get(variable)
    if text is None:
        return DEFAULTS[variable]
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{variable}: expected a positive integer, got {text!r}")
    return value


def _mb(n_bytes: float) -> str:
    return (
        f"{n_bytes / 2**20:,.0f} MB"
        if n_bytes < 2**30
        else f"{n_bytes / 2**30:,.1f} GB"
    )


def too_many_atoms(n_atoms: float) -> str | None:
    """Why a structure of ``n_atoms`` atoms is refused (above
    ``HYPERAL_MAX_ATOMS``), or None."""
    cap = limit("HYPERAL_MAX_ATOMS")
    if n_atoms <= cap:
        return None
    return (
        f"{n_atoms:,.0f} atoms in one structure (about "
        f"{_mb(n_atoms * BYTES_PER_ATOM)} for the structure alone, far more "
        f"for its neighbour lists) exceeds the limit of {cap:,} atoms; set "
        "HYPERAL_MAX_ATOMS to allow more"
    )


def check_atoms(n_atoms: float, what: str) -> None:
    """Refuse a structure of ``n_atoms`` atoms above ``HYPERAL_MAX_ATOMS``."""
    why = too_many_atoms(n_atoms)
    if why is not None:
        raise ValueError(f"{what}: {why}")


def check_structures(n: float, what: str) -> None:
    """Refuse a request for ``n`` structures above ``HYPERAL_MAX_STRUCTURES``."""
    cap = limit("HYPERAL_MAX_STRUCTURES")
    if n > cap:
        raise ValueError(
            f"{what}: {n:,.0f} structures exceeds the limit of {cap:,}; set "
            "HYPERAL_MAX_STRUCTURES to allow more"
        )


def check_cells(n: int, what: str) -> None:
    """Refuse an enumeration over supercells above ``HYPERAL_MAX_CELLS``."""
    cap = limit("HYPERAL_MAX_CELLS")
    if n > cap:
        raise ValueError(
            f"{what}: supercells of up to {n:,} cells; their count alone grows "
            f"like n³ and the decorations exponentially — the limit is {cap} "
            "(set HYPERAL_MAX_CELLS to allow more)"
        )


def check_parameters(n_parameters: float, what: str, detail: str = "") -> None:
    """Refuse a committee of more than ``HYPERAL_MAX_PARAMETERS`` weights
    (``detail``: how the count arises)."""
    cap = limit("HYPERAL_MAX_PARAMETERS")
    if n_parameters > cap:
        detail = f" ({detail})" if detail else ""
        raise ValueError(
            f"{what}: {n_parameters:,.0f} weights in the committee{detail} (about "
            f"{_mb(n_parameters * 4 * 4)} to fit in float32 with Adam) exceeds the "
            f"limit of {cap:,}; set HYPERAL_MAX_PARAMETERS to allow more"
        )


#: Bytes a recorded frame holds per atom (positions, numbers, forces of the
#: selection), for the memory estimate of a refusal.
BYTES_PER_FRAME_ATOM = 56


def check_frames(frames: int, atoms: int, what: str) -> None:
    """Refuse an evolution that would record more than
    ``HYPERAL_MAX_FRAME_ATOMS`` frame-atoms (frames × atoms per frame)."""
    cap = limit("HYPERAL_MAX_FRAME_ATOMS")
    if frames * atoms > cap:
        raise ValueError(
            f"{what}: {frames:,} recorded frames of up to {atoms:,} atoms per "
            f"evolution (about {_mb(frames * atoms * BYTES_PER_FRAME_ATOM)} in a "
            f"worker) exceeds the limit of {cap:,} frame-atoms; record fewer "
            "frames (scheme.params.record_every) or set HYPERAL_MAX_FRAME_ATOMS"
        )
