"""Independent, stratified robustness test sets from recipes a person can read.

A benchmark that ranks exploration schemes on structures drawn from the pool
the schemes evolve, or made by the dynamics one scheme uses, favours that
scheme. A robustness set is built apart from every campaign: each *stratum*
is one kind of structure a robust potential must get right — MD snapshots at
several temperatures up to near melting, vacancies and divacancies, surfaces,
hydrostatic and shear strain, random structures, derived oxides, rattled
crystals — drawn with its own random stream (the recipe's seed and the
stratum's name, never a campaign's) and labelled by the oracle. Each
structure carries ``info['source']`` = its stratum, so every error table of
hyperal breaks down per stratum.

The set is written to an extxyz file (``REF_energy``, ``REF_forces``) one
structure at a time as its label arrives; a failed label, or one beyond the
recipe's physical limits, is recorded beside it (``<file>.left_out.jsonl``)
with its reason. A rerun of the same recipe resumes: it rebuilds the same
candidates and labels only the ones never labelled.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from ase import Atoms
from pydantic import Field, field_validator

from hyperal.campaign.config import PhaseConfig, SystemConfig
from hyperal.runs.sections import OracleConfig
from hyperal.runs.settings import Settings
from hyperal.strata import candidates, recipe_oracle


class _Stratum(Settings):
    name: str | None = Field(None, description="default: the kind")
    count: int = Field(ge=1, description="structures to label")
    rattle_A: float = Field(
        0.05, ge=0, description="Gaussian displacement (Å) after construction"
    )
    phases: list[PhaseConfig] | None = Field(
        None, description="parent phases (default: the system's metal phases)"
    )

    @property
    def label(self) -> str:
        return self.name or self.kind  # type: ignore[attr-defined]

    @field_validator("name")
    @classmethod
    def _name(cls, value):
        import re

        if value is not None and not re.fullmatch(r"[A-Za-z0-9_\-]+", value):
            raise ValueError(f"{value!r}: letters, digits, '_' and '-' only")
        return value


class MDStratum(_Stratum):
    """MD snapshots: one trajectory per temperature (a fresh decoration of a
    parent phase each, optionally compressed or expanded), ``equilibrate``
    steps, then a snapshot every ``interval`` steps; the snapshots spread
    evenly over the temperatures. ``dynamics`` picks the ensemble, so a test
    set need not sample as any scheme does (the schemes' MD is Langevin):
    ``bussi`` is stochastic velocity rescaling (Bussi, Donadio & Parrinello,
    J. Chem. Phys. 126, 014101 (2007)), ``nve`` velocity Verlet from momenta
    drawn at the temperature."""

    kind: Literal["md"]
    temperatures_K: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    timestep_fs: float = Field(2.0, gt=0)
    dynamics: Literal["langevin", "bussi", "nve"] = "langevin"
    friction: float = Field(0.02, gt=0, description="Langevin friction (1/fs)")
    taut_fs: float = Field(100.0, gt=0, description="Bussi time constant (fs)")
    volume_strain: float = Field(
        0.0,
        gt=-0.3,
        lt=0.5,
        description="linear strain of the cell before the MD (L'/L − 1): "
        "compressed (< 0) or expanded (> 0) volumes",
    )
    equilibrate: int = Field(100, ge=0, description="steps before the first snapshot")
    interval: int = Field(50, ge=1, description="steps between snapshots")
    rattle_A: float = Field(0.0, ge=0)


class VacancyStratum(_Stratum):
    """A parent-phase supercell less ``vacancies`` atoms: with
    ``adjacent``, each next vacancy is a nearest neighbour of the previous
    one (a divacancy for two)."""

    kind: Literal["vacancy"]
    vacancies: int = Field(1, ge=1)
    adjacent: bool = True


class SurfaceStratum(_Stratum):
    """A slab cut from a parent-phase supercell (:func:`ase.build.surface`)
    along one of ``miller`` (drawn per structure), with vacuum on both
    sides; periodic in the surface plane only."""

    kind: Literal["surface"]
    miller: list[tuple[int, int, int]] = [(0, 0, 1), (1, 1, 1), (1, 1, 0)]
    layers: int = Field(1, ge=1, description="repetitions of the supercell")
    vacuum_A: float = Field(6.0, gt=0)
    max_atoms: int = Field(200, ge=1)


class AdatomStratum(SurfaceStratum):
    """A surface slab (as ``surface``) with ``adatoms`` extra atoms of the
    slab's own elements at random in-plane positions ``height_A`` above its
    top layer."""

    kind: Literal["adatom"]  # type: ignore[assignment]
    adatoms: int = Field(1, ge=1)
    height_A: float = Field(2.0, gt=0.5, description="above the top atom (Å)")


class StrainStratum(_Stratum):
    """A parent-phase supercell under homogeneous strain: ``hydrostatic``
    (linear strain L'/L − 1 uniform in ``strain``) or ``shear``
    (volume-preserving, von Mises equivalent strain uniform in ``strain``)."""

    kind: Literal["strain"]
    mode: Literal["hydrostatic", "shear"]
    strain: tuple[float, float]

    @field_validator("strain")
    @classmethod
    def _range(cls, value):
        low, high = value
        if not (math.isfinite(low) and math.isfinite(high) and -0.5 < low <= high < 1):
            raise ValueError(
                f"must be (low, high) with -0.5 < low <= high < 1, got {value}"
            )
        return value


class RandomStratum(_Stratum):
    """Random structures of the system's ``random`` settings (cell from the
    cutoff, density range, near-equimolar compositions)."""

    kind: Literal["random"]
    rattle_A: float = Field(0.0, ge=0)


class OxideStratum(_Stratum):
    """Derived structures of the system's oxide phases (its
    ``derive_oxide`` perturbations)."""

    kind: Literal["oxide"]
    rattle_A: float = Field(0.0, ge=0)


class RattleStratum(_Stratum):
    """Parent-phase supercells with random decorations, rattled: the
    near-equilibrium crystal."""

    kind: Literal["rattle"]


Stratum = Annotated[
    MDStratum
    | VacancyStratum
    | SurfaceStratum
    | AdatomStratum
    | StrainStratum
    | RandomStratum
    | OxideStratum
    | RattleStratum,
    Field(discriminator="kind"),
]


class LimitsConfig(Settings):
    """The physical limits of training frames: a structure beyond them is
    left out of the set (and counted)."""

    max_force_eV_A: float | None = Field(None, gt=0)
    min_distance_A: float = Field(0.0, ge=0)


class TestSetRecipe(Settings):
    """A robustness test set: the system, the oracle, the strata."""

    system: SystemConfig
    oracle: OracleConfig
    seed: int = Field(0, ge=0)
    strata: list[Stratum] = Field(min_length=1)
    limits: LimitsConfig = LimitsConfig()

    @field_validator("strata")
    @classmethod
    def _unique(cls, value):
        names = [s.label for s in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(
                f"stratum name {', '.join(twice)} used twice (give each a `name`)"
            )
        return value

    def fingerprint(self) -> str:
        """A short hash of everything that decides the candidates and labels."""
        # where the oracle's files go decides no label
        dump = self.model_dump(
            mode="json", exclude={"oracle": {"workdir", "keep_workdirs"}}
        )
        text = json.dumps(dump, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def recipe_problems(recipe: TestSetRecipe) -> list[str]:
    """Mistakes a recipe shows before any oracle call, one line each."""
    problems = []
    for k, s in enumerate(recipe.strata):
        if s.kind == "oxide" and not recipe.system.oxide_phases:
            problems.append(
                f"strata[{k}] ({s.label}): kind oxide needs system.oxide_phases"
            )
    return problems


@dataclass
class StratumReport:
    """What one stratum gave: labelled, failed (with reasons), beyond the
    physical limits, and its reference forces."""

    name: str
    kind: str
    requested: int
    written: int = 0
    failed: int = 0
    beyond_limits: int = 0
    reasons: list[str] = field(default_factory=list)
    force_rms_eV_A: float = math.nan
    force_max_eV_A: float = math.nan

    def count(self, status: str, reason: str) -> None:
        """One candidate left out: ``failed`` or ``beyond_limits``."""
        if status == "failed":
            self.failed += 1
        else:
            self.beyond_limits += 1
        self.reasons.append(reason)

    def row(self) -> list[Any]:
        return [
            self.name,
            self.kind,
            self.requested,
            self.written,
            self.failed,
            self.beyond_limits,
            f"{self.force_rms_eV_A:.2f}",
            f"{self.force_max_eV_A:.2f}",
        ]


def _read_done(path: Path, fingerprint: str) -> tuple[list[Atoms], dict]:
    """Structures already written and candidates already left out (by
    (stratum, index)); another recipe's file is refused."""
    from ase.io import read

    done: list[Atoms] = []
    if path.exists() and path.stat().st_size:
        done = read(path, index=":")
        other = {a.info.get("recipe") for a in done} - {fingerprint}
        if other:
            raise ValueError(
                f"{path}: written by another recipe (fingerprint "
                f"{', '.join(map(str, sorted(other)))}, this one {fingerprint}); "
                "write to a new file"
            )
    left_out = {}
    sidecar = left_out_path(path)
    if sidecar.exists():
        for line in sidecar.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("recipe") == fingerprint:
                left_out[entry["stratum"], entry["index"]] = entry
    return done, left_out


def left_out_path(path: Path) -> Path:
    """Where the candidates left out of the set ``path`` are recorded (one
    JSON line each: stratum, index, status ``failed`` or ``beyond_limits``,
    reason), so that a rerun does not pay for them again."""
    return path.with_name(path.name + ".left_out.jsonl")


def build_test_set(
    recipe: TestSetRecipe,
    path: str | Path,
    *,
    driver=None,
    progress=lambda stratum, done, total: None,
) -> list[StratumReport]:
    """Label every stratum's candidates with the recipe's oracle and append
    each labelled structure to the extxyz file ``path`` as it arrives;
    structures beyond ``recipe.limits`` are counted, not written. Resumes a
    file of the same recipe: written and left-out candidates are not
    labelled again."""
    from ase.io import write

    from hyperal.evolve.select import beyond_limits
    from hyperal.runs.store import structure_key

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fingerprint = recipe.fingerprint()
    done, left_out = _read_done(path, fingerprint)
    written = {(a.info["stratum"], int(a.info["index"])): a for a in done}
    oracle = recipe_oracle(recipe, path)
    sidecar = left_out_path(path)
    reports = []
    for stratum in recipe.strata:
        name = stratum.label
        report = StratumReport(name, stratum.kind, stratum.count)
        forces = []
        structures = candidates(recipe, stratum, driver)
        for index, atoms in enumerate(structures):
            key = (name, index)
            if key in left_out:  # paid for in an earlier run: not again
                report.count(left_out[key]["status"], left_out[key]["reason"])
            elif key in written:
                report.written += 1
                forces.append(written[key].arrays["REF_forces"])
            else:
                label = oracle.label(atoms)
                why = (
                    beyond_limits(
                        atoms,
                        label.forces,
                        max_force_eV_A=recipe.limits.max_force_eV_A,
                        min_distance_A=recipe.limits.min_distance_A,
                    )
                    if label.ok
                    else ""
                )
                if not label.ok or why:
                    status = "failed" if not label.ok else "beyond_limits"
                    reason = label.reason if not label.ok else why
                    report.count(status, reason)
                    entry = {
                        "recipe": fingerprint,
                        "stratum": name,
                        "index": index,
                        "status": status,
                        "reason": reason,
                    }
                    with sidecar.open("a") as handle:
                        handle.write(json.dumps(entry) + "\n")
                else:
                    atoms.info.update(
                        source=name,
                        stratum=name,
                        kind=stratum.kind,
                        index=index,
                        recipe=fingerprint,
                        structure_key=structure_key(atoms),
                        REF_energy=label.energy,
                    )
                    atoms.arrays["REF_forces"] = np.asarray(label.forces)
                    if label.stress is not None:
                        atoms.info["REF_stress"] = np.asarray(label.stress)
                    write(path, atoms, format="extxyz", append=True)
                    report.written += 1
                    forces.append(label.forces)
            progress(name, index + 1, len(structures))
        if forces:
            stacked = np.concatenate(forces)
            # per-atom norm, sqrt(mean_i |F_i|²): √3 × the component RMS
            report.force_rms_eV_A = float(np.sqrt(np.mean(np.sum(stacked**2, axis=1))))
            report.force_max_eV_A = float(np.linalg.norm(stacked, axis=1).max())
        reports.append(report)
    return reports


def parse_recipe(data: Any) -> TestSetRecipe:
    """A validated recipe, or a ConfigError with one line per problem."""
    from pydantic import ValidationError

    from hyperal.runs.settings import ConfigError, file_mapping, format_errors

    data = file_mapping(data, "a test-set recipe")
    try:
        recipe = TestSetRecipe.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, TestSetRecipe)) from None
    problems = recipe_problems(recipe)
    if problems:
        raise ConfigError("\n".join(problems))
    return recipe
