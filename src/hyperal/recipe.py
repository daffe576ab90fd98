"""The recipe of a robustness test set (``hyperal testset FILE``): the
system, the oracle, the seed and the strata, each stratum one kind of
structure with its own settings; :func:`parse_recipe` reads a file's
mapping into it, every mistake one line naming its key. The candidates of
each stratum are :mod:`hyperal.strata`'s, the set is built by
:mod:`hyperal.testsets`."""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from hyperal.campaign.config import PhaseConfig, SystemConfig
from hyperal.runs.sections import OracleConfig
from hyperal.runs.settings import ConfigError, Settings, file_mapping, format_errors


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


def parse_recipe(data: Any) -> TestSetRecipe:
    """A validated recipe, or a ConfigError with one line per problem."""
    data = file_mapping(data, "a test-set recipe")
    try:
        recipe = TestSetRecipe.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, TestSetRecipe)) from None
    problems = recipe_problems(recipe)
    if problems:
        raise ConfigError("\n".join(problems))
    return recipe
