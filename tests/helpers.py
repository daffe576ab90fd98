"""Test helpers: small EMT cells (and, re-exported, the finite-difference gradient)."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk

from hyperal.testing import central_difference

__all__ = [
    "assert_same_rows",
    "central_difference",
    "emt_test_file",
    "rattled_cu",
    "rattled_cuni",
    "store_rows",
]


def rattled_cuni(seed: int = 1, stdev: float = 0.1) -> Atoms:
    """A 32-atom fcc Cu–Ni cell (2×2×2 conventional), rattled, float64."""
    atoms = bulk("Cu", "fcc", a=3.58, cubic=True).repeat(2)
    atoms.symbols[np.random.default_rng(seed).permutation(32)[:12]] = "Ni"
    atoms.rattle(stdev, seed=seed)
    return atoms


def rattled_cu(seed: int = 3, stdev: float = 0.15) -> Atoms:
    """A 32-atom fcc Cu cell (2×2×2 conventional), rattled."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(stdev, seed=seed)
    return atoms


def emt_test_file(path, count: int) -> None:
    """A user's test set: ``count`` rattled Cu–Ni cells (seeds 0, 1, ...)
    with their EMT labels as REF_ keys, written as extxyz to ``path``."""
    from ase.calculators.emt import EMT
    from ase.io import write

    from hyperal.labels import with_ref_keys

    images = []
    for seed in range(count):
        atoms = rattled_cuni(seed=seed)
        atoms.calc = EMT()
        atoms.get_forces()
        images.append(with_ref_keys(atoms))
    write(path, images, format="extxyz")


def stage_context(config, store=None, run: str = "main"):
    """A stage context of ``config`` in process (its store, its oracle)."""
    from hyperal.runs import InProcessExecutor, StageContext, Store

    store = store if store is not None else Store(config.store)
    return StageContext(
        config, store, InProcessExecutor(), config.oracle.build(config.store), run=run
    )


def store_rows(path) -> dict:
    """Every row of the store at ``path`` by name: what it is, its label and
    its positions (row ids and times left out: they follow arrival order)."""
    from hyperal.runs.store import Store

    out = {}
    for row in Store(path).rows():
        energy = row.get("energy") if row.get("oracle_status") == "ok" else None
        out[row.name] = (
            (row.get("stage"), row.get("split"), row.get("oracle_status")),
            row.get("source"),
            np.nan if energy is None else energy,
            row.positions,
        )
    return out


def assert_same_rows(rows: dict, reference: dict) -> None:
    """The same rows (:func:`store_rows`) up to float noise: a worker's torch
    may sum in another order than the coordinator's."""
    assert rows.keys() == reference.keys()
    for name, (kind, source, energy, positions) in rows.items():
        ref = reference[name]
        assert (kind, source) == ref[:2], name
        np.testing.assert_allclose(energy, ref[2], rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(positions, ref[3], atol=1e-5, err_msg=name)
