"""Reference labels: the one place hyperal reads (and writes) a structure's
oracle energy, forces and stress.

A labelled structure carries them either as extxyz-style ``REF_energy`` /
``REF_stress`` in ``info`` and ``REF_forces`` in ``arrays`` (the keys MACE,
pacemaker and NequIP read by default) or as its calculator's stored results
(a :class:`~ase.calculators.singlepoint.SinglePointCalculator`, as the
campaign store returns them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms


@dataclass(frozen=True)
class Reference:
    """Reference energy (eV), forces (N, 3, eV/Å) and optional Voigt stress
    (6, eV/Å³) of one structure."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None = None


def reference(atoms: Atoms, index: int = 0) -> Reference:
    """The reference labels of ``atoms`` (``REF_*`` keys first, else its
    calculator's stored results). ``index`` only names the structure in the
    error raised when it has none."""
    if "REF_energy" in atoms.info and "REF_forces" in atoms.arrays:
        stress = atoms.info.get("REF_stress")
        return Reference(
            float(atoms.info["REF_energy"]),
            np.asarray(atoms.arrays["REF_forces"], dtype=float),
            None if stress is None else np.asarray(stress, dtype=float),
        )
    calc = atoms.calc
    results = getattr(calc, "results", {})
    if "energy" not in results or "forces" not in results:
        raise ValueError(
            f"image {index} has no reference labels: give it REF_energy/REF_forces "
            "or a calculator with stored energy and forces (SinglePointCalculator)"
        )
    stress = results.get("stress")
    return Reference(
        float(results["energy"]),
        np.asarray(results["forces"], dtype=float),
        None if stress is None else np.asarray(stress, dtype=float),
    )


def reference_labels(atoms: Atoms, index: int = 0) -> tuple[float, np.ndarray]:
    """(energy eV, forces eV/Å) of :func:`reference`."""
    ref = reference(atoms, index)
    return ref.energy, ref.forces


def with_ref_keys(atoms: Atoms, index: int = 0) -> Atoms:
    """A plain copy of a labelled structure with its labels as ``REF_energy``,
    ``REF_forces`` (and ``REF_stress``) and its scalar ``info`` kept: what
    ``hyperal export`` writes and MACE trains on."""
    ref = reference(atoms, index)
    plain = atoms.copy()
    plain.calc = None
    plain.info = {
        k: v for k, v in atoms.info.items() if isinstance(v, (str, int, float))
    }
    plain.info["REF_energy"] = ref.energy
    plain.arrays["REF_forces"] = ref.forces.copy()
    if ref.stress is not None:
        plain.info["REF_stress"] = ref.stress.copy()
    return plain
