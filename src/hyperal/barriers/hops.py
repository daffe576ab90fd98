"""Drawing hops: the start states a barrier campaign searches, from its hop
types, cell sizes and environments (at random, uniform over the
symmetry-distinct ones, or every distinct one in turn), with compositions
and strains drawn from seeded streams.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator

import numpy as np
from ase import Atoms

from hyperal.barriers.cells import decorated_cell, strained
from hyperal.barriers.config import BarrierConfig
from hyperal.barriers.paths import load_case, path_environment, representatives, sample
from hyperal.runs.seeds import stream
from hyperal.structures.composition import sample_compositions
from hyperal.structures.strain import deformation, deviatoric_strain


def draw_hops(cfg: BarrierConfig, loop: int, n: int, stream_id: int) -> list[Atoms]:
    """``n`` hop start states of ``loop`` (random stream ``stream_id``): a
    hop type in turn, a cell size, a random environment (uniform over the
    symmetry-distinct ones), the other sites at random; ``info`` says which."""
    return list(itertools.islice(iter_hops(cfg, loop, stream_id), int(n)))


def iter_hops(cfg: BarrierConfig, loop: int, stream_id: int) -> Iterator[Atoms]:
    """The endless sequence that :func:`draw_hops` takes its first from. The
    sites outside the hop's neighbourhood follow a composition drawn mostly
    near equimolar (docs/method.md §1.5); with ``cells.strain`` the cell is
    strained at random (§1.6)."""

    rng = stream(cfg.seed, loop, stream_id)
    environments = [path_environment(load_case(h.case, a=h.a)) for h in cfg.hops]
    species_of = [cfg.lattice_species()] * len(environments)
    if cfg.environments == "enumerated":
        listed = [
            _environments(h.case, h.a, tuple(s))
            for h, s in zip(cfg.hops, species_of, strict=True)
        ]
        orders = [iter(()) for _ in environments]
    for i in itertools.count():
        k = i % len(environments)
        env, species = environments[k], species_of[k]
        size = tuple(cfg.cells.sizes[int(rng.integers(len(cfg.cells.sizes)))])
        if cfg.environments == "enumerated":
            decoration, hopping = _next_listed(listed[k], orders, k, env, species, rng)
        else:
            (decoration,) = sample(env, len(species), 1, rng=rng)
            hopping = (
                species[int(rng.integers(len(species)))]
                if env.case.kind == "vacancy"
                else None
            )
        (fractions,) = sample_compositions(species, 1, rng=rng)
        start = decorated_cell(
            env,
            decoration,
            species,
            hopping=hopping,
            repeat=size,
            fractions=fractions,
            rng=rng,
        )
        if cfg.cells.strain:
            linear = float(rng.uniform(*cfg.cells.linear_strain))
            von_mises = float(rng.uniform(*cfg.cells.von_mises_strain))
            f = deformation(linear=linear, deviatoric=deviatoric_strain(von_mises, rng))
            start = strained(start, f)
            start.info.update(linear_strain=linear, von_mises_strain=von_mises)
        start.info["cell_size"] = "x".join(str(s) for s in size)
        yield start


@functools.lru_cache(maxsize=8)
def _environments(case: str, a: float | None, species: tuple[str, ...]) -> np.ndarray:
    """Every symmetry-distinct environment of a hop (directed convention), one
    representative each (computed once per process: a few seconds for the
    bcc vacancy hop with 3 species)."""
    return representatives(path_environment(load_case(case, a=a)), len(species))


def _next_listed(listed, orders, k, env, species, rng):
    """The next (decoration, hopping species) of hop type ``k`` in a seeded
    order of all its distinct environments (× the hopping atom's species for
    a vacancy hop): every one is taken once before any is taken again."""
    hoppers = list(species) if env.case.kind == "vacancy" else [None]
    for _ in range(2):
        index = next(orders[k], None)
        if index is not None:
            return listed[index // len(hoppers)], hoppers[index % len(hoppers)]
        orders[k] = iter(rng.permutation(len(listed) * len(hoppers)).tolist())
    raise AssertionError("a hop type with no environment")
