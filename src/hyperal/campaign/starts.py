"""Starting structures: pure functions of the campaign settings and
``(seed, loop)``, so a rerun, a resumed run and every run sharing a store (the
schemes of a benchmark) build the same starts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from hyperal.campaign.config import CampaignConfig, PhaseConfig
from hyperal.runs.records import Split
from hyperal.runs.seeds import stream
from hyperal.structures import (
    derive_structures,
)


@dataclass(frozen=True)
class Start:
    """A starting structure, its structure type and its split."""

    atoms: Atoms
    source: str
    split: Split


def phase(config: PhaseConfig, rng: np.random.Generator) -> list[Atoms]:
    return config.build(rng)


def initial_starts(cfg: CampaignConfig) -> list[Start]:
    """Loop 0: rattled known metal phases, or (``initial.source:
    enumerated``) rattled enumerated decorations — a seeded subset of
    ``initial.structures`` when the enumeration holds more;
    ``train_fraction`` of them train, the rest is the gentle test set."""
    rng = stream(cfg.seed, 0, 0)
    structures = []
    if cfg.initial.source == "enumerated":
        structures = cfg.initial.enumerated.structures(cfg.initial.structures, rng)
        for atoms in structures:
            atoms.rattle(cfg.initial.rattle_A, seed=int(rng.integers(2**31)))
    else:
        for i in range(cfg.initial.structures):
            metal = cfg.system.metal_phases[i % len(cfg.system.metal_phases)]
            (atoms,) = phase(metal, rng)
            atoms.rattle(cfg.initial.rattle_A, seed=int(rng.integers(2**31)))
            structures.append(atoms)
    n_train = max(1, round(cfg.initial.train_fraction * len(structures)))
    splits = [Split.TRAIN] * n_train + [Split.GENTLE] * (len(structures) - n_train)
    splits = [Split(s) for s in rng.permutation(splits)]
    return [
        Start(atoms, cfg.initial.source, split)
        for atoms, split in zip(structures, splits, strict=True)
    ]


def loop_starts(cfg: CampaignConfig, loop: int) -> list[Start]:
    """Loop ``loop``'s new starts — derived metal, derived oxide, random — of
    which ``difficult_fraction`` go to the difficult test set (split
    ``difficult``) and the rest are evolved (split ``none``)."""
    rng = stream(cfg.seed, loop, 0)
    starts: list[tuple[Atoms, str]] = []
    system = cfg.system
    if cfg.counts.derived_metal:
        parents = [a for p in system.metal_phases for a in phase(p, rng)]
        derived = derive_structures(
            parents,
            cfg.counts.derived_metal,
            kind="metal",
            species={"metal": system.elements},
            rng=rng,
            **system.derive_metal,
        )
        starts += [(a, "derived_metal") for a in derived]
    if cfg.counts.derived_oxide and system.oxide_phases:
        parents = [a for p in system.oxide_phases for a in phase(p, rng)]
        derived = derive_structures(
            parents,
            cfg.counts.derived_oxide,
            kind="oxide",
            rng=rng,
            **system.derive_oxide,
        )
        starts += [(a, "derived_oxide") for a in derived]
    if cfg.counts.random:
        starts += [
            (a, "random") for a in system.random_structures(cfg.counts.random, rng)
        ]
    n_difficult = round(cfg.difficult_fraction * len(starts))
    difficult = set(rng.choice(len(starts), size=n_difficult, replace=False).tolist())
    out = []
    for j, (atoms, source) in enumerate(starts):
        atoms.info = {}
        atoms.arrays.pop("displacement", None)
        out.append(
            Start(atoms, source, Split.DIFFICULT if j in difficult else Split.NONE)
        )
    return out
