"""Candidate structures of a robustness test set, one stratum at a time: MD
snapshots on the oracle, vacancies, surfaces, strained and rattled crystals,
the system's random structures and derived oxides."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import surface
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet

from hyperal.campaign.config import SystemConfig
from hyperal.recipe import (
    AdatomStratum,
    MDStratum,
    StrainStratum,
    SurfaceStratum,
    TestSetRecipe,
    VacancyStratum,
)
from hyperal.runs.plan import Plan, PlanStage, Workers
from hyperal.structures import derive_structures
from hyperal.structures.strain import deform, deformation, deviatoric_strain


def recipe_oracle(recipe: TestSetRecipe, path: str | Path | None = None):
    """The recipe's oracle (:class:`hyperal.oracle.Oracle`); its calls'
    folders beside the test set ``path`` by default."""
    return recipe.oracle.build(path)


def stratum_rng(seed: int, name: str) -> np.random.Generator:
    """The random stream of stratum ``name``: the recipe seed and a stable
    checksum of the name (adding or reordering strata changes no other
    stratum's structures)."""
    return np.random.default_rng(
        np.random.SeedSequence([seed, zlib.crc32(name.encode())])
    )


def _parents(stratum, system: SystemConfig, rng) -> list[Atoms]:
    phases = stratum.phases or system.metal_phases
    phase = phases[int(rng.integers(len(phases)))]
    return phase.build(rng)


def _clean(atoms: Atoms) -> Atoms:
    atoms = atoms.copy()
    atoms.calc = None
    atoms.info = {}
    for key in list(atoms.arrays):
        if key not in ("numbers", "positions"):
            del atoms.arrays[key]
    return atoms


def _vacancies(atoms: Atoms, stratum: VacancyStratum, rng) -> Atoms:
    n = min(stratum.vacancies, len(atoms) - 1)
    first = int(rng.integers(len(atoms)))
    removed = [first]
    while len(removed) < n:
        if stratum.adjacent:
            d = atoms.get_distances(removed[-1], range(len(atoms)), mic=True)
            d[removed] = np.inf
            removed.append(int(np.argmin(d)))
        else:
            left = [i for i in range(len(atoms)) if i not in removed]
            removed.append(int(rng.choice(left)))
    del atoms[sorted(removed)]
    return atoms


def _surface(atoms: Atoms, stratum: SurfaceStratum, rng) -> Atoms | None:
    miller = stratum.miller[int(rng.integers(len(stratum.miller)))]
    slab = surface(atoms, miller, stratum.layers, vacuum=stratum.vacuum_A)
    if len(slab) > stratum.max_atoms:
        return None
    slab.info = {"miller": " ".join(map(str, miller))}
    return slab


def _adatoms(slab: Atoms, stratum: AdatomStratum, rng) -> Atoms:
    """``slab`` with adatoms of its own elements above its top layer."""
    top = slab.positions[:, 2].max()
    for _ in range(stratum.adatoms):
        x, y = rng.uniform(0, 1, 2)
        position = x * slab.cell[0] + y * slab.cell[1]
        position[2] = top + stratum.height_A
        symbol = slab.get_chemical_symbols()[int(rng.integers(len(slab)))]
        slab.append(symbol)
        slab.positions[-1] = position
    slab.info["adatoms"] = stratum.adatoms
    return slab


def _strain(atoms: Atoms, stratum: StrainStratum, rng) -> Atoms:
    value = float(rng.uniform(*stratum.strain))
    if stratum.mode == "hydrostatic":
        f = deformation(linear=value)
    else:
        f = deformation(deviatoric=deviatoric_strain(value, rng))
    out = deform(atoms, f)
    out.info = {"strain": value}
    return out


def per_temperature(stratum: MDStratum) -> list[int]:
    """How many of an MD stratum's snapshots each temperature gives: the
    count spread evenly, the first temperatures one more."""
    temps = stratum.temperatures_K
    return [
        stratum.count // len(temps) + (k < stratum.count % len(temps))
        for k in range(len(temps))
    ]


def _md(stratum: MDStratum, system, driver, rng) -> list[Atoms]:
    """The MD stratum's snapshots, driven by the calculator ``driver``."""

    out = []
    for temperature, n in zip(
        stratum.temperatures_K, per_temperature(stratum), strict=True
    ):
        if not n:
            continue
        (atoms,) = _parents(stratum, system, rng)[:1]
        atoms = _clean(atoms)
        if stratum.volume_strain:
            atoms = deform(atoms, deformation(linear=stratum.volume_strain))
        atoms.calc = driver()
        thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
        step = stratum.timestep_fs * units.fs
        if stratum.dynamics == "langevin":
            dyn = Langevin(
                atoms,
                timestep=step,
                temperature_K=temperature,
                friction=stratum.friction / units.fs,
                fixcm=False,
                rng=rng,
            )
        elif stratum.dynamics == "bussi":
            dyn = Bussi(
                atoms,
                timestep=step,
                temperature_K=temperature,
                taut=stratum.taut_fs * units.fs,
                rng=rng,
            )
        else:
            dyn = VelocityVerlet(atoms, timestep=step)
        dyn.run(stratum.equilibrate)
        for k in range(n):
            if k:
                dyn.run(stratum.interval)
            snap = _clean(atoms)
            snap.info = {"temperature_K": temperature, "md_step": dyn.nsteps}
            out.append(snap)
    return out


def candidates(recipe: TestSetRecipe, stratum, driver=None) -> list[Atoms]:
    """The unlabelled structures of one stratum, in a fixed order: a pure
    function of the recipe (``driver``, a calculator factory, moves the atoms
    of an MD stratum; default the oracle's)."""
    rng = stratum_rng(recipe.seed, stratum.label)
    system = recipe.system
    if stratum.kind == "md":
        driver = driver or recipe_oracle(recipe).calculator
        structures = _md(stratum, system, driver, rng)
    elif stratum.kind == "random":
        structures = [_clean(a) for a in system.random_structures(stratum.count, rng)]
    elif stratum.kind == "oxide":
        parents = [a for p in system.oxide_phases for a in p.build(rng)]
        structures = [
            _clean(a)
            for a in derive_structures(
                parents, stratum.count, kind="oxide", rng=rng, **system.derive_oxide
            )
        ]
    else:
        structures = []
        attempts = 0
        while len(structures) < stratum.count:
            attempts += 1
            if attempts > 20 * stratum.count:
                raise ValueError(
                    f"stratum {stratum.label}: no structure within max_atoms "
                    f"after {attempts - 1} attempts"
                )
            (atoms,) = _parents(stratum, system, rng)[:1]
            atoms = _clean(atoms)
            if stratum.kind == "vacancy":
                atoms = _vacancies(atoms, stratum, rng)
            elif stratum.kind in ("surface", "adatom"):
                atoms = _surface(atoms, stratum, rng)
                if atoms is None:
                    continue
                if stratum.kind == "adatom":
                    atoms = _adatoms(atoms, stratum, rng)
            elif stratum.kind == "strain":
                atoms = _strain(atoms, stratum, rng)
            structures.append(atoms)
    for atoms in structures:
        if stratum.rattle_A > 0:
            atoms.positions += rng.normal(scale=stratum.rattle_A, size=(len(atoms), 3))
    return structures[: stratum.count]


def testset_plan(recipe: TestSetRecipe, cores_per_call: int | None = None):
    """The oracle calls of a test-set recipe (``hyperal plan``): one label
    per candidate of each stratum — a candidate beyond the limits is paid
    and left out — and, for an MD stratum, the oracle driving the dynamics:
    per temperature one call to start, ``equilibrate`` steps, then
    ``interval`` steps between snapshots — exact for a calculator that
    caches its last result, as ASE's do (a new ``run`` of the dynamics asks
    for the forces at the same positions again)."""
    stages = []
    for stratum in recipe.strata:
        if stratum.kind == "md":
            per = per_temperature(stratum)
            rng = np.random.default_rng(0)  # sizes only: every phase it may pick
            sizes = [
                len(a)
                for p in (stratum.phases or recipe.system.metal_phases)
                for a in p.build(rng)
            ]
            drive = [
                1 + stratum.equilibrate + (n - 1) * stratum.interval for n in per if n
            ]
            stages.append(
                PlanStage(
                    None,
                    f"{stratum.label}: MD on the oracle, {len(drive)} trajectories",
                    tuple(drive),
                    tuple(max(sizes) for _ in drive),
                )
            )
            labels = [n for n in per if n]
            stages.append(
                PlanStage(
                    None,
                    f"{stratum.label}: snapshots labelled",
                    tuple(1 for _ in range(sum(labels))),
                    tuple(max(sizes) for _ in range(sum(labels))),
                )
            )
            continue
        found = candidates(recipe, stratum)
        stages.append(
            PlanStage(
                None,
                f"{stratum.label}: candidates labelled",
                tuple(1 for _ in found),
                tuple(len(a) for a in found),
            )
        )
    notes = [
        "labels run one at a time, in this process (`hyperal testset` has no "
        "executor); an MD stratum's sizes are its largest parent phase's",
    ]
    workers = Workers(1, cores_per_call or 1, "in process, one call at a time")
    return Plan("test set", stages, workers, notes)
