"""Figure of a derived set: the drawn volumetric and von Mises strains and the
atomic displacements against the requested distribution."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms


def plot_derived(structures: Sequence[Atoms], path: str | Path | None = None):
    """Histograms of ``volumetric_strain``, ``von_mises_strain`` (from ``info``)
    and of the displacement components (``arrays["displacement"]``) of derived
    structures, with the requested Gaussian overlaid; saved to ``path`` when
    given (format from the suffix). Returns the matplotlib Figure."""
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib

    matplotlib.use("Agg", force=False)
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    derived = [a for a in structures if a.info.get("source") == "derived"]
    if not derived:
        raise ValueError("structures: none has info['source'] == 'derived'")
    volumetric = np.array([a.info["volumetric_strain"] for a in derived]) * 100
    von_mises = np.array([a.info["von_mises_strain"] for a in derived]) * 100
    parts = [
        a.arrays["displacement"].ravel() for a in derived if "displacement" in a.arrays
    ]
    displacement = np.concatenate(parts) if parts else np.zeros(0)
    stds = sorted({float(a.info["displacement_std_A"]) for a in derived})

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    axes[0].hist(volumetric, bins="auto", color="C0")
    axes[0].set(xlabel="volumetric strain (%)", ylabel="structures")
    axes[1].hist(von_mises, bins="auto", color="C1")
    axes[1].set(xlabel="von Mises strain (%)", ylabel="structures")
    if len(displacement):
        axes[2].hist(
            displacement,
            bins=60,
            density=True,
            color="C2",
            alpha=0.7,
            label=f"drawn (std {displacement.std():.3f} Å)",
        )
        x = np.linspace(displacement.min(), displacement.max(), 200)
        for std in stds:
            if std > 0:
                axes[2].plot(
                    x,
                    np.exp(-0.5 * (x / std) ** 2) / (std * np.sqrt(2 * np.pi)),
                    "k--",
                    label=f"requested N(0, {std:g} Å)",
                )
        axes[2].legend(fontsize=8)
    axes[2].set(xlabel="displacement component (Å)", ylabel="density")
    fig.suptitle(f"{len(derived)} derived structures")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
