"""The campaign file's schema: pydantic models (``extra="forbid"``), one per
section. Every error names the offending key (as a dotted path) and, where
the value must be one of a set, the allowed values:
:func:`hyperal.campaign.validate.load_config` raises a
:class:`~hyperal.runs.settings.ConfigError` with one line per problem.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from typing import Any, Literal

import numpy as np
from ase import Atoms
from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from hyperal.evolve.rules import RULES
from hyperal.evolve.scores import RELATIVE_FLOOR_EV_A, SCORES
from hyperal.evolve.settings import SchemeSettings, default_scheme
from hyperal.models.options import BPNNOptions, CommitteeOptions
from hyperal.runs.sections import (
    CalibrationConfig,
    ExecutorConfig,
    OracleConfig,
)
from hyperal.runs.settings import (
    ConfigError,
    Settings,
)
from hyperal.structures import known_structures, random_structures, sample_compositions
from hyperal.structures.derive import DEFAULTS, DerivationParameters
from hyperal.structures.enumerate import (
    VACANCY,
    enumerate_decorations,
    interstitial_parent,
)
from hyperal.structures.known import LATTICE_PARAMETERS, PROTOTYPES
from hyperal.structures.limits import limit
from hyperal.structures.soi import OPERATING_POINTS
from hyperal.utils import type_problems

__all__ = [
    "CalibrationConfig",
    "CampaignConfig",
    "ConfigError",
    "ExecutorConfig",
    "OracleConfig",
]


class PhaseConfig(Settings):
    """A known phase (``hyperal.structures.known_structures`` arguments)."""

    prototype: str
    species: str | list[str] | dict[str, Any]
    repeat: tuple[int, int, int] | None = None
    min_atoms: int = Field(1, ge=1)
    lattice: dict[str, float] | None = None

    def build(self, rng=0) -> list:
        """The phase's structures (:func:`hyperal.structures.known_structures`)."""

        return known_structures(
            self.prototype,
            self.species,
            repeat=self.repeat,
            min_atoms=self.min_atoms,
            lattice=self.lattice,
            rng=rng,
        )

    @field_validator("prototype")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in PROTOTYPES:
            raise ValueError(
                f"unknown prototype {value!r}; allowed: {', '.join(PROTOTYPES)}"
            )
        return value


class RandomConfig(Settings):
    """Random structures (docs/method.md §1.4): cell from the cutoff, density range."""

    cutoff_A: float = Field(5.0, gt=0)
    criterion: str | float = "inner_half_unique"
    density_g_cm3: tuple[float, float] = (7.0, 10.0)
    interstitials: dict[str, tuple[float, float]] = {}

    @field_validator("density_g_cm3")
    @classmethod
    def _density(cls, value):
        low, high = value
        if not 0 < low <= high:
            raise ValueError(f"must be (low, high) with 0 < low <= high, got {value}")
        return value

    @field_validator("interstitials")
    @classmethod
    def _fractions(cls, value):
        for symbol, (low, high) in value.items():
            if not 0 <= low <= high <= 1:
                raise ValueError(
                    f"{symbol}: must be (low, high) fractions with "
                    f"0 <= low <= high <= 1, got {(low, high)}"
                )
        if sum(high for _, high in value.values()) >= 1:
            raise ValueError("the upper bounds must sum to less than 1")
        return value

    @field_validator("criterion")
    @classmethod
    def _criterion(cls, value):
        if isinstance(value, str) and value not in OPERATING_POINTS:
            raise ValueError(
                f"unknown criterion {value!r}; allowed: {', '.join(OPERATING_POINTS)} "
                "or a number"
            )
        return value


class SystemConfig(Settings):
    """What the potential is for."""

    elements: list[str] = Field(min_length=1)
    metal_phases: list[PhaseConfig] = Field(min_length=1)
    oxide_phases: list[PhaseConfig] = []
    derive_metal: dict[str, Any] = {}
    derive_oxide: dict[str, Any] = {}
    random: RandomConfig = RandomConfig()

    def random_structures(self, n: int, rng) -> list:
        """``n`` random structures of ``random``'s settings, one per
        composition drawn near equimolar over the elements (interstitials
        within their ranges)."""

        r = self.random
        compositions = sample_compositions(
            [e for e in self.elements if e not in r.interstitials],
            n,
            interstitials=r.interstitials,
            rng=rng,
        )
        return [
            atoms
            for fractions in compositions
            for atoms in random_structures(
                1,
                fractions,
                cutoff_A=r.cutoff_A,
                criterion=r.criterion,
                density_g_cm3=r.density_g_cm3,
                rng=rng,
            )
        ]

    @field_validator("derive_metal", "derive_oxide")
    @classmethod
    def _derive(cls, value: dict) -> dict:
        allowed = [f.name for f in fields(DerivationParameters)]
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(allowed)}"
            )
        wrong = type_problems(DerivationParameters, value)
        if wrong:
            raise ValueError("; ".join(wrong))
        replace(DEFAULTS["metal"], **value)  # the ranges (__post_init__)
        return value


class EnumeratedInitial(Settings):
    """Symmetry-distinct decorations of a parent lattice with interstitial
    sites, from icet (docs/method.md §1.2): ``species`` on the lattice sites,
    ``interstitials`` or a vacancy on each interstitial site, in supercells of
    up to ``sizes`` primitive cells (an int n: 1…n; or a list of sizes).
    ``concentration_restrictions`` are icet's: {symbol: [low, high]} as
    fractions of *all* sites of the supercell, interstitial sites included."""

    lattice: Literal["bcc", "fcc"] = "bcc"
    a: float | None = Field(
        None,
        gt=0,
        description="lattice parameter (Å); default: the mean of "
        "the species' known values for the lattice",
    )
    species: list[str] = Field(min_length=1)
    interstitials: list[str] = []
    sites: Literal["octahedral", "tetrahedral"] = "octahedral"
    sizes: int | list[int] = 2
    concentration_restrictions: dict[str, tuple[float, float]] = {}
    interstitial_fraction: tuple[float, float] = Field(
        (0.0, 1.0),
        description="kept: structures whose share of interstitial atoms among "
        "all atoms lies in [low, high] (e.g. [0, 0.3] for 0-30 at.% O)",
    )

    @field_validator("interstitial_fraction")
    @classmethod
    def _fraction(cls, value):
        low, high = value
        if not 0 <= low <= high <= 1:
            raise ValueError(
                f"must be [low, high] with 0 <= low <= high <= 1, got {list(value)}"
            )
        return value

    def lattice_parameter(self) -> float:
        if self.a is not None:
            return self.a
        table = LATTICE_PARAMETERS.get(self.lattice, {})
        missing = [s for s in self.species if s not in table]
        if missing:
            raise ValueError(
                f"a: no known {self.lattice} lattice parameter of "
                f"{', '.join(missing)}; give a"
            )
        return float(np.mean([table[s]["a"] for s in self.species]))

    def parent(self) -> Atoms:
        """The primitive parent cell and the allowed species per site."""

        return interstitial_parent(
            self.lattice, self.lattice_parameter(), sites=self.sites
        )

    def site_species(self, parent: Atoms) -> list[list[str]]:
        return [
            list(self.species) if k == 0 else [*self.interstitials, VACANCY]
            for k in range(len(parent))
        ]

    def structures(self, n: int, rng) -> list[Atoms]:
        """``n`` enumerated structures (a seeded subset when there are more;
        all when fewer)."""

        parent = self.parent()
        if not self.interstitials:
            parent = parent[:1]
        found = enumerate_decorations(
            parent,
            self.site_species(parent),
            self.sizes,
            concentration_restrictions=dict(self.concentration_restrictions) or None,
            max_structures=limit("HYPERAL_MAX_STRUCTURES"),
        )
        low, high = self.interstitial_fraction
        found = [
            atoms
            for atoms in found
            if low
            <= sum(s in self.interstitials for s in atoms.symbols) / len(atoms)
            <= high
        ]
        if len(found) > n:
            keep = np.sort(rng.choice(len(found), size=n, replace=False))
            found = [found[k] for k in keep]
        return found


class InitialConfig(Settings):
    """Initial data: oracle relaxation trajectories of the known phases
    (rattled) or of enumerated decorations (``source: enumerated``), a part
    for training, the rest the gentle test set."""

    source: Literal["known", "enumerated"] = "known"
    enumerated: EnumeratedInitial | None = None
    structures: int = Field(
        6,
        ge=1,
        description="rattled known-phase starts, or enumerated structures to "
        "relax (a seeded subset when the enumeration holds more)",
    )
    rattle_A: float = Field(0.1, ge=0)
    relax_steps: int = Field(8, ge=1)
    fmax_eV_A: float = Field(0.05, gt=0)
    train_fraction: float = Field(0.5, gt=0, le=1)


class CountsConfig(Settings):
    """New starting structures per loop (docs/method.md §4 reference: 50 / 50 / 100)."""

    derived_metal: int = Field(50, ge=0)
    derived_oxide: int = Field(50, ge=0)
    random: int = Field(100, ge=0)


class WindowConfig(Settings):
    """The trust window of ``rule: trust_window``: the scores a frame may
    have to be drawn (DP-GEN's ``trust_lo`` / ``trust_hi``)."""

    low: float = Field(description="lower end: absolute, or a quantile")
    high: float = Field(description="upper end: absolute, or a quantile")
    quantiles: bool = Field(
        False,
        description="low and high are quantiles (0-1) of every qualified "
        "frame's score in the loop, not score values",
    )

    @model_validator(mode="after")
    def _order(self):
        if not self.low <= self.high:
            raise ValueError(f"low {self.low} must not exceed high {self.high}")
        if self.quantiles and not (0 <= self.low and self.high <= 1):
            raise ValueError("quantiles lie in [0, 1]")
        return self

    def bounds(self, scores) -> tuple[float, float]:
        """The window in score units for a loop's ``scores``."""
        if not self.quantiles:
            return self.low, self.high
        values = np.asarray(scores, dtype=float)
        values = values[np.isfinite(values)]
        if not values.size:
            return math.inf, math.inf
        low, high = np.quantile(values, [self.low, self.high])
        return float(low), float(high)


class SelectionConfig(Settings):
    """Which frame of each evolution is labelled (docs/method.md §3, §4)."""

    max_force_eV_A: float = Field(25.0, gt=0)
    min_distance_A: float = Field(1.0, ge=0)
    per_atom: bool = False
    rule: str = Field(
        "max_sigma",
        description="how each trajectory's physical frames are ranked: "
        + "; ".join(f"{r.name}: {r.summary}" for r in RULES.values()),
    )
    window: WindowConfig | None = Field(
        None, description="the trust window of rule: trust_window"
    )
    score: str = Field(
        "energy_sigma",
        description="what max_sigma ranks by (and trust_window draws in): "
        + "; ".join(f"{s.name}: {s.summary}" for s in SCORES.values()),
    )
    relative_floor_eV_A: float | None = Field(
        None,
        gt=0,
        description="l of the relative force deviation σ_F,i / (|F̄_i| + l) "
        "(scores force_sigma_relative*); default (null) "
        f"{RELATIVE_FLOOR_EV_A:g} eV/Å, DeePMD-kit's documented level",
    )
    batch: bool = Field(
        False,
        description="choose the loop's labels together from every trajectory's "
        "`candidates` (the best frame of each stretch of it): uncertain and "
        "unlike each other, as many as one per trajectory would give",
    )
    batch_covers_training: bool | None = Field(
        None,
        description="with batch: count the training set as chosen already, so "
        "a candidate near training data keeps little of its score "
        "(density-aware batches: MaxDist/LCMD with the training set "
        "selected, Holzmüller et al. 2023); null or false: only the loop's "
        "own choices",
    )
    redundancy_filter: bool = Field(
        True,
        description="pass over a frame that nearly repeats a training structure "
        "or a frame selected earlier in the loop; take the next candidate",
    )
    redundancy_threshold: float = Field(0.01, ge=0)
    candidates: int = Field(
        4, ge=1, description="ranked frames per trajectory the filter may try"
    )
    random_share: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="the share of each loop's trajectories that give a frame "
        "drawn uniformly at random (stored as audit labels): an unbiased "
        "estimate of the exploring committee's error each loop, printed by "
        "`hyperal status` (null: none)",
    )
    include_start: bool = Field(
        True,
        description="may the unevolved start of a trajectory be selected (false: "
        "only frames the scheme produced; a control for benchmarks)",
    )

    @field_validator("score")
    @classmethod
    def _score(cls, value: str) -> str:
        SCORES[value]  # an unknown name is an error listing the registered ones
        return value

    @field_validator("rule")
    @classmethod
    def _rule(cls, value: str) -> str:
        RULES[value]
        return value

    @model_validator(mode="after")
    def _batch_ranks(self):
        rule = RULES[self.rule]
        if self.batch and not rule.ranks_by_score:
            ranking = ", ".join(r.name for r in RULES.values() if r.ranks_by_score)
            raise ValueError(
                f"batch: chooses by uncertainty; it needs a rule that ranks by "
                f"the score ({ranking}), not {self.rule}"
            )
        if self.batch_covers_training and not self.batch:
            raise ValueError("batch_covers_training: needs batch: true")
        if rule.loop_draw != (self.window is not None):
            drawing = ", ".join(r.name for r in RULES.values() if r.loop_draw)
            raise ValueError(
                f"rule: {drawing} needs a `window` ({{low, high}} or quantiles), "
                f"and a window needs rule: {drawing}"
            )
        return self

    def limits(self) -> dict:
        """The keyword arguments of :func:`hyperal.evolve.select_frame`."""
        return self.model_dump(
            include={
                "max_force_eV_A",
                "min_distance_A",
                "per_atom",
                "rule",
                "include_start",
                "score",
                "relative_floor_eV_A",
            }
        )


class StopConfig(Settings):
    """When a campaign may stop before ``loops`` (a maximum then): either
    criterion holding stops it after the loop that met it."""

    improvement: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="stop when this loop's committee has a difficult-set force "
        "RMSE less than this fraction below that of the committee `patience` "
        "loops earlier, both measured on the difficult structures written so far",
    )
    patience: int = Field(
        2, ge=1, description="loops over which `improvement` is measured"
    )
    force_sigma_eV_A: float | None = Field(
        None,
        gt=0,
        description="stop when the conformally calibrated force sigma (largest "
        "over atoms) of the frames this loop explored and selected, by the "
        "committee that explored them, is below this for `share` of the frames",
    )
    share: float = Field(
        0.9, gt=0, le=1, description="the share of frames `force_sigma_eV_A` needs"
    )
    audit_force_rmse_meV_A: float | None = Field(
        None,
        gt=0,
        description="stop when the upper end of the 95 % interval of the audit "
        "estimate (the exploring committee's force RMSE on the loop's random "
        "labels; needs selection.random_share) is below this",
    )


class CampaignConfig(Settings):
    """A whole campaign."""

    system: SystemConfig
    oracle: OracleConfig
    initial: InitialConfig = InitialConfig()
    counts: CountsConfig = CountsConfig()
    difficult_fraction: float = Field(0.2, ge=0, lt=1)
    scheme: SchemeSettings = Field(
        default_factory=default_scheme,
        description="how starts are evolved: a family (md, relax, ce, dimer) "
        "with its params and, for the adversarial twin, a bias",
    )
    selection: SelectionConfig = SelectionConfig()
    committee: CommitteeOptions = BPNNOptions()
    loops: int = Field(
        3, ge=1, description="active loops; a maximum when `stop` is set"
    )
    seed: int = Field(0, ge=0, lt=2**32)
    store: str = "campaign.db"
    executor: ExecutorConfig = ExecutorConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    stop: StopConfig = StopConfig()
