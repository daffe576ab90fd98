"""Test-set errors from predictions: pure functions, no model, no store.

The committee's predictions (:class:`~hyperal.models.protocol.Prediction`)
come from worker tasks (:func:`hyperal.campaign.tasks.predict`);
:func:`summarise` turns them and the reference labels into
:class:`~hyperal.campaign.results.SplitErrors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hyperal import metrics
from hyperal.campaign.results import ErrorSummary, Parity, SplitErrors
from hyperal.models.protocol import Prediction

#: Force components kept (a seeded random sample) for the parity plots.
PARITY_SAMPLE = 3000


@dataclass(frozen=True)
class Labelled:
    """Reference of one test structure: energy (eV), forces (eV/Å), source."""

    energy: float
    forces: np.ndarray
    source: str


def _summary(refs: Sequence[Labelled], preds: Sequence[Prediction]) -> ErrorSummary:
    n = np.array([len(r.forces) for r in refs])
    e = metrics.energy_errors(
        [p.energy for p in preds], [r.energy for r in refs], n
    ).scaled(1000, "meV/atom")
    f_pred = [p.forces for p in preds]
    f_ref = [r.forces for r in refs]
    f = metrics.force_errors(f_pred, f_ref).scaled(1000, "meV/Å")
    a = metrics.force_angle_errors(f_pred, f_ref)
    de = 1e3 * np.abs(
        [
            (p.energy - r.energy) / len(r.forces)
            for r, p in zip(refs, preds, strict=True)
        ]
    )
    df = 1e3 * np.abs(
        np.concatenate([(p - r).ravel() for p, r in zip(f_pred, f_ref, strict=True)])
    )
    return ErrorSummary(
        energy_median_meV_atom=float(np.median(de)),
        energy_p95_meV_atom=float(np.percentile(de, 95)),
        force_median_meV_A=float(np.median(df)),
        force_p95_meV_A=float(np.percentile(df, 95)),
        count=len(refs),
        energy_rmse_meV_atom=e.rmse,
        energy_mae_meV_atom=e.mae,
        force_rmse_meV_A=f.rmse,
        force_mae_meV_A=f.mae,
        angle_mae_deg=a.mae,
    )


def summarise(
    refs: Sequence[Labelled], preds: Sequence[Prediction], *, seed: int = 0
) -> SplitErrors:
    """Errors overall and per source (energy meV/atom, force components
    meV/Å, force angle degrees), and parity data with a random sample of at
    most :data:`PARITY_SAMPLE` force components (seeded)."""
    if len(refs) != len(preds) or not refs:
        raise ValueError("summarise needs one prediction per reference, at least one")
    sources = sorted({r.source for r in refs})
    by_source = {
        s: _summary(
            [r for r in refs if r.source == s],
            [p for r, p in zip(refs, preds, strict=True) if r.source == s],
        )
        for s in sources
    }
    f_ref = np.concatenate([r.forces.ravel() for r in refs])
    f_pred = np.concatenate([p.forces.ravel() for p in preds])
    angles = np.concatenate(
        [
            metrics.force_angles(p.forces, r.forces)
            for r, p in zip(refs, preds, strict=True)
        ]
    )
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(len(f_ref))[:PARITY_SAMPLE])
    atoms = np.sort(rng.permutation(len(angles))[:PARITY_SAMPLE])
    parity = Parity(
        energy_ref=[r.energy / len(r.forces) for r in refs],
        energy_pred=[
            p.energy / len(r.forces) for r, p in zip(refs, preds, strict=True)
        ],
        force_ref=f_ref[pick].tolist(),
        force_pred=f_pred[pick].tolist(),
        angles=angles[atoms].tolist(),
        sigma=[float(p.sigma) for p in preds],
        source=[r.source for r in refs],
        natoms=[len(r.forces) for r in refs],
    )
    return SplitErrors(all=_summary(refs, preds), by_source=by_source, parity=parity)
