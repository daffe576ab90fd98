"""The "Sampling diversity" section of the campaign and benchmark reports:
what each sampling source (campaign) or scheme (benchmark) put into the
training data — the per-atom features in two principal components, bond
lengths and angles, and how far its trajectories moved
(:mod:`hyperal.diversity`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase import Atoms

from hyperal.diversity import (
    atomic_feature_matrix,
    bond_angles,
    bond_lengths,
    feature_spread,
    pca,
)
from hyperal.models.checkpoint import load_checkpoint
from hyperal.report.page import colour, marker

#: At most this many structures per group enter the PCA and the bond figures
#: (a seeded sample), so the section stays quick on a large store.
PER_GROUP = 60
#: Bond lengths up to this distance (Å).
LENGTH_CUTOFF_A = 5.0
#: Angles between neighbours within this factor of the median nearest-neighbour
#: distance (the first shell of a metal, the cation–anion bonds of an oxide).
ANGLE_SHELL = 1.2


def _sample(images: list[Atoms], seed: int = 0) -> list[Atoms]:
    if len(images) <= PER_GROUP:
        return images
    pick = np.sort(np.random.default_rng(seed).permutation(len(images))[:PER_GROUP])
    return [images[k] for k in pick]


def _pca_figure(page, groups, checkpoint, what, colour_of):
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    model = load_checkpoint(checkpoint)
    features = {
        name: atomic_feature_matrix(model, images) for name, images in groups.items()
    }
    everything = np.concatenate(list(features.values()))
    _, ratio, mean, vectors = pca(everything)
    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    for k, (name, x) in enumerate(features.items()):
        scores = (x - mean) @ vectors.T
        ax.scatter(
            scores[:, 0],
            scores[:, 1],
            s=6,
            alpha=0.5,
            color=colour_of(name, k),
            marker=marker(k),
            label=f"{name} ({len(x)} atoms, spread {feature_spread(x):.2f})",
        )
    ax.set(
        xlabel=f"PC 1 ({ratio[0]:.0%} of the variance)",
        ylabel=f"PC 2 ({ratio[1]:.0%})",
    )
    ax.legend(fontsize=7, markerscale=2)
    ax.grid(alpha=0.3)
    fig.set_layout_engine("constrained")
    return page.figure(
        fig,
        f"Per-atom features (the last hidden layer of the committee of "
        f"{Path(checkpoint).name}, averaged over members) of the structures "
        f"{what}, in the two principal components of all of them together "
        f"(explained variance {ratio[0]:.0%} and {ratio[1]:.0%}); at most "
        f"{PER_GROUP} structures per group. Groups that cover different regions "
        "sample different local environments; a group's spread is the total "
        "variance of its features (their mean squared distance from their "
        "centroid): how widely it samples.",
        "diversity-pca",
    )


def _bonds_figure(page, groups, what, colour_of):
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    # every structure's distances, once: the histograms and the angle shell
    distances = {
        name: [bond_lengths(atoms, LENGTH_CUTOFF_A) for atoms in images]
        for name, images in groups.items()
    }
    nearest = [float(np.min(d)) for ds in distances.values() for d in ds if len(d)]
    if not nearest:
        return ""
    shell = ANGLE_SHELL * float(np.median(nearest))
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.5, 3.6))
    for k, (name, images) in enumerate(groups.items()):
        lengths = np.concatenate(distances[name])
        angles = np.concatenate([bond_angles(a, shell) for a in images])
        style = {
            "histtype": "step",
            "lw": 1.4,
            "color": colour_of(name, k),
            "density": True,
        }
        if len(lengths):
            left.hist(lengths, bins=60, range=(0, LENGTH_CUTOFF_A), label=name, **style)
        if len(angles):
            right.hist(angles, bins=60, range=(0, 180), label=name, **style)
    left.set(xlabel="interatomic distance (Å)", ylabel="density")
    right.set(xlabel="bond angle (°)", ylabel="density")
    right.legend(fontsize=7)
    fig.set_layout_engine("constrained")
    return page.figure(
        fig,
        f"Distances up to {LENGTH_CUTOFF_A:g} Å and bond angles (neighbours "
        f"within {shell:.2f} Å, {ANGLE_SHELL:g} × the median nearest-neighbour "
        f"distance) of the structures {what}; at most {PER_GROUP} structures "
        "per group.",
        "diversity-bonds",
    )


def _motion_figure(page, motion, what, colour_of):
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    motion = {k: v for k, v in motion.items() if v.get("rmsd_A")}
    if not motion:
        return ""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.5, 3.4))
    names = list(motion)
    for ax, key, label in (
        (left, "step_displacement_A", "mean displacement per recorded step (Å)"),
        (right, "rmsd_A", "RMSD of the last frame from the start (Å)"),
    ):
        data = [motion[n].get(key, []) for n in names]
        box = ax.boxplot(data, orientation="horizontal", patch_artist=True)
        ax.set_yticks(range(1, len(names) + 1), names, fontsize=7)
        for k, (name, patch) in enumerate(zip(names, box["boxes"], strict=True)):
            patch.set_facecolor(colour_of(name, k))
            patch.set_alpha(0.5)
        ax.set(xlabel=label)
        ax.grid(alpha=0.3, axis="x")
    fig.set_layout_engine("constrained")
    counts = ", ".join(f"{n}: {len(motion[n]['rmsd_A'])}" for n in names)
    return page.figure(
        fig,
        f"How far the trajectories {what} moved: the atoms' mean displacement "
        "between recorded frames and the RMSD of the last frame from the start "
        f"(trajectories: {counts}).",
        "diversity-motion",
    )


def diversity_parts(
    page,
    groups: dict[str, list[Atoms]],
    checkpoint: Path | None,
    motion: dict[str, dict[str, list[float]]],
    what: str,
    colour_of: Callable[[str, int], str] | None = None,
) -> list[str]:
    """The section's figures: ``groups`` of structures by source or scheme
    (sampled), their features through ``checkpoint``'s committee (skipped
    without one), and per group the trajectories' ``motion`` values.
    ``colour_of(name, k)`` colours the ``k``-th group ``name`` (default: the
    palette in turn); a page whose colours carry a meaning passes its own."""
    colour_of = colour_of or (lambda name, k: colour(k))
    groups = {name: _sample(images) for name, images in groups.items() if images}
    parts = []
    if checkpoint is not None and groups and sum(len(g) for g in groups.values()):
        parts.append(_pca_figure(page, groups, checkpoint, what, colour_of))
    if groups:
        parts.append(_bonds_figure(page, groups, what, colour_of))
    parts.append(_motion_figure(page, motion, what, colour_of))
    return [p for p in parts if p]


def motion_of(rows, key) -> dict[str, dict[str, list[float]]]:
    """Trajectory motion values of selected rows grouped by ``key(row)``."""
    out: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        if row.get("rmsd_A") is None:
            continue
        group = out.setdefault(key(row), {"step_displacement_A": [], "rmsd_A": []})
        group["rmsd_A"].append(float(row.rmsd_A))
        group["step_displacement_A"].append(float(row.get("step_displacement_A", 0)))
    return out
