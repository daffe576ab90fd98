"""Test-set errors from predictions: pure functions, no model, no store.

The committee's predictions (:class:`~hyperal.models.protocol.Prediction`)
come from worker tasks (:func:`hyperal.runs.tasks.predict`);
:func:`summarise` turns them and the reference labels into
:class:`~hyperal.runs.results.SplitErrors`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hyperal import metrics
from hyperal.committee.calibration import Calibration, calibrate
from hyperal.committee.calibration import aggregate as aggregate_atoms
from hyperal.models.protocol import Prediction
from hyperal.runs.results import ErrorSummary, ForceBin, Parity, SplitErrors

#: Force components kept (a seeded random sample) for the parity plots.
PARITY_SAMPLE = 3000
#: Edges (eV/Å) of the bins of reference atomic force magnitude.
FORCE_BINS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, math.inf)


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


def force_bins(
    refs: Sequence[Labelled], preds: Sequence[Prediction], edges=FORCE_BINS
) -> list[ForceBin]:
    """Force errors per bin of the atoms' reference force magnitude
    (``edges`` in eV/Å, lower edge included); empty bins are left out."""
    f_ref = np.concatenate([r.forces for r in refs])
    f_pred = np.concatenate([p.forces for p in preds])
    norm = np.linalg.norm(f_ref, axis=1)
    angles = np.concatenate(
        [
            metrics.force_angles(p.forces, r.forces)
            for r, p in zip(refs, preds, strict=True)
        ]
    )
    out = []
    for lower, upper in zip(edges[:-1], edges[1:], strict=True):
        inside = (norm >= lower) & (norm < upper)
        if not inside.any():
            continue
        delta = 1e3 * (f_pred[inside] - f_ref[inside]).ravel()
        finite = angles[inside][np.isfinite(angles[inside])]
        out.append(
            ForceBin(
                lower_eV_A=lower,
                upper_eV_A=upper,
                atoms=int(inside.sum()),
                force_rmse_meV_A=float(np.sqrt(np.mean(delta**2))),
                force_mae_meV_A=float(np.mean(np.abs(delta))),
                angle_mae_deg=float(finite.mean()) if len(finite) else math.nan,
            )
        )
    return out


def calibrations(
    refs: Sequence[Labelled],
    preds: Sequence[Prediction],
    *,
    aggregate: str = "max",
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Calibration]:
    """σ against the true error per structure: ``energy`` (σ_U and the
    error per atom, meV/atom) and, when the model gives per-atom force
    disagreements, ``force`` (the per-atom force σ and the per-atom force
    error |ΔF|, each aggregated over the structure's atoms, meV/Å), and
    ``force_atoms`` (the same per atom, every atom one value). Empty for a
    one-member model (no spread computed)."""
    if all(p.sigma == 0 and p.forces_sigma is None for p in preds):
        return {}
    n = np.array([len(r.forces) for r in refs])
    out = {
        "energy": calibrate(
            1e3 * np.array([p.sigma for p in preds]) / n,
            1e3
            * np.abs([(p.energy - r.energy) for r, p in zip(refs, preds, strict=True)])
            / n,
            quantity="energy",
            unit="meV/atom",
            aggregate="per structure",
            alpha=alpha,
            seed=seed,
        )
    }
    if all(p.forces_sigma is not None for p in preds):
        # per structure, each atom's |ΔF| (eV/Å)
        errors = [
            np.linalg.norm(p.forces - r.forces, axis=1)
            for r, p in zip(refs, preds, strict=True)
        ]
        out["force"] = calibrate(
            [1e3 * aggregate_atoms(p.forces_sigma, aggregate) for p in preds],
            [1e3 * aggregate_atoms(e, aggregate) for e in errors],
            quantity="force",
            unit="meV/Å",
            aggregate=aggregate,
            alpha=alpha,
            seed=seed,
        )
        # every atom its own value: many more values than structures (a
        # finite factor at α = 0.05 needs 19 in the calibration half), the
        # halves still split by structure
        out["force_atoms"] = calibrate(
            1e3 * np.concatenate([p.forces_sigma for p in preds]),
            1e3 * np.concatenate(errors),
            quantity="force",
            unit="meV/Å",
            aggregate="atoms",
            alpha=alpha,
            seed=seed,
            groups=np.repeat(np.arange(len(refs)), n),
        )
    return out


def summarise(
    refs: Sequence[Labelled],
    preds: Sequence[Prediction],
    *,
    seed: int = 0,
    aggregate: str = "max",
    alpha: float = 0.05,
) -> SplitErrors:
    """Errors overall and per source (energy meV/atom, force components
    meV/Å, force angle degrees), parity data with a random sample of at
    most :data:`PARITY_SAMPLE` force components (seeded), and the
    calibration of σ (:func:`calibrations`; per-atom force values aggregated
    by ``aggregate``, conformal level 1 − ``alpha``)."""
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
        force_sse=[
            float(np.sum((p.forces - r.forces) ** 2))
            for r, p in zip(refs, preds, strict=True)
        ],
    )
    return SplitErrors(
        all=_summary(refs, preds),
        by_source=by_source,
        force_bins=force_bins(refs, preds),
        parity=parity,
        calibration=calibrations(
            refs, preds, aggregate=aggregate, alpha=alpha, seed=seed
        ),
    )
