"""The campaign file: YAML validated by pydantic (``extra="forbid"``).

Every error names the offending key (as a dotted path) and, where the value
must be one of a set, the allowed values: :func:`load_config` raises
:class:`ConfigError` whose message has one line per problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from ase import Atoms
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hyperal.evolve.schemes import SCHEMES
from hyperal.models.options import BPNNOptions, CommitteeOptions
from hyperal.runs.sections import (
    CalibrationConfig,
    ExecutorConfig,
    OracleConfig,
    committee_problems,
    section_problems,
)
from hyperal.runs.settings import (
    ConfigError,
    Settings,
    element_problems,
    format_errors,
    load_with,
    read_file,
    read_yaml,
)
from hyperal.structures.known import PROTOTYPES
from hyperal.structures.soi import OPERATING_POINTS

__all__ = [
    "CalibrationConfig",
    "CampaignConfig",
    "ConfigError",
    "ExecutorConfig",
    "OracleConfig",
    "load_config",
    "parse_config",
    "read_file",
    "read_yaml",
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
        from hyperal.structures import known_structures

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
        from hyperal.structures import random_structures, sample_compositions

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
        from dataclasses import fields, replace

        from hyperal.structures.derive import DEFAULTS, DerivationParameters
        from hyperal.utils import type_problems

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
        from hyperal.structures.known import LATTICE_PARAMETERS

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
        from hyperal.structures.enumerate import interstitial_parent

        return interstitial_parent(
            self.lattice, self.lattice_parameter(), sites=self.sites
        )

    def site_species(self, parent: Atoms) -> list[list[str]]:
        from hyperal.structures.enumerate import VACANCY

        return [
            list(self.species) if k == 0 else [*self.interstitials, VACANCY]
            for k in range(len(parent))
        ]

    def structures(self, n: int, rng) -> list[Atoms]:
        """``n`` enumerated structures (a seeded subset when there are more;
        all when fewer)."""
        from hyperal.structures.enumerate import enumerate_decorations
        from hyperal.structures.limits import limit

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


class SchemeConfig(Settings):
    """How starts are evolved (a name of ``hyperal.evolve.SCHEMES``)."""

    name: str = "advb_ce"
    steps: int = Field(100, ge=1)
    params: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value not in SCHEMES:
            raise ValueError(f"unknown scheme {value!r}; allowed: {', '.join(SCHEMES)}")
        return value


class SelectionConfig(Settings):
    """Which frame of each evolution is labelled (docs/method.md §3, §4)."""

    max_force_eV_A: float = Field(25.0, gt=0)
    min_distance_A: float = Field(1.0, ge=0)
    per_atom: bool = False
    rule: Literal["max_sigma", "random"] = Field(
        "max_sigma",
        description="max_sigma: the most uncertain physical frame; random: a "
        "physical frame drawn uniformly (the control)",
    )
    score: Literal["energy_sigma", "force_sigma_max", "force_sigma_mean"] = Field(
        "energy_sigma",
        description="what max_sigma ranks by: the committee's energy spread "
        "σ_U, or the per-atom force disagreement of its members, largest or "
        "mean over atoms (one more committee evaluation per frame)",
    )
    batch: bool = Field(
        False,
        description="choose the loop's labels together from every trajectory's "
        "`candidates` (the best frame of each stretch of it): uncertain and "
        "unlike each other, as many as one per trajectory would give",
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
    include_start: bool = Field(
        True,
        description="may the unevolved start of a trajectory be selected (false: "
        "only frames the scheme produced; a control for benchmarks)",
    )

    @model_validator(mode="after")
    def _batch_ranks(self):
        if self.batch and self.rule == "random":
            raise ValueError(
                "batch: chooses by uncertainty; it needs rule: max_sigma, not random"
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


class CampaignConfig(Settings):
    """A whole campaign."""

    system: SystemConfig
    oracle: OracleConfig
    initial: InitialConfig = InitialConfig()
    counts: CountsConfig = CountsConfig()
    difficult_fraction: float = Field(0.2, ge=0, lt=1)
    scheme: SchemeConfig = SchemeConfig()
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


def _species(species) -> list[str]:
    """The element names of a phase's species: a name, a list, a mapping of
    element -> fraction, or of sublattice -> one of those."""
    if isinstance(species, str):
        return [species]
    if isinstance(species, dict):
        return [
            x
            for k, v in species.items()
            for x in ([str(k)] if isinstance(v, (int, float)) else _species(v))
        ]
    if isinstance(species, (list, tuple)):
        return [x for v in species for x in _species(v)]
    return [str(species)]


def semantic_problems(cfg: CampaignConfig) -> list[str]:
    """What a valid-looking campaign file still gets wrong, one line each
    naming the key: unknown element symbols, phase species that are not
    elements of the system, scheme parameters the evolver does not take or
    of the wrong type, an oracle that cannot be built, a store folder that
    does not exist."""
    problems = _section_problems(
        system=cfg.system,
        scheme=cfg.scheme,
        oracle=cfg.oracle,
        store=cfg.store,
        committee=cfg.committee,
    )
    problems += _initial_problems(cfg)
    return problems or _workload_problems(cfg)


def _initial_problems(cfg: CampaignConfig) -> list[str]:
    """Enumerated initial data: its species among the system's elements, a
    lattice parameter, and an enumeration that is neither empty nor enormous."""
    initial = cfg.initial
    if initial.source != "enumerated":
        if initial.enumerated is not None:
            return ["initial.enumerated: given, but initial.source is not enumerated"]
        return []
    found = initial.enumerated
    if found is None:
        return [
            "initial.enumerated: required with initial.source: enumerated "
            "(lattice, species, interstitials, sizes)"
        ]
    problems = [
        f"initial.enumerated.{key}: {symbol} is not in system.elements"
        for key in ("species", "interstitials")
        for symbol in getattr(found, key)
        if symbol not in cfg.system.elements
    ]
    for symbol in found.concentration_restrictions:
        if symbol not in [*found.species, *found.interstitials]:
            problems.append(
                f"initial.enumerated.concentration_restrictions: {symbol} is "
                "neither a species nor an interstitial"
            )
    if problems:
        return problems
    try:
        structures = found.structures(1, np.random.default_rng(0))
    except ValueError as exc:
        return [f"initial.enumerated.{' '.join(str(exc).split())}"]
    if not structures:
        return [
            "initial.enumerated: no structure is enumerated (sizes, "
            "concentration_restrictions and interstitial_fraction exclude "
            "every decoration)"
        ]
    return []


def _workload_problems(cfg: CampaignConfig) -> list[str]:
    """Starts per loop, and one evolution's recorded frames × atoms (what a
    worker holds in memory), within the limits."""
    from ase.data import atomic_masses, atomic_numbers

    from hyperal.structures.limits import check_frames, check_structures
    from hyperal.structures.random import G_CM3_PER_AMU_A3
    from hyperal.structures.soi import cell_edge

    problems = []
    system = cfg.system
    counts = cfg.counts
    starts = counts.derived_metal + counts.derived_oxide + counts.random
    initial = cfg.initial
    calls = initial.structures * (initial.relax_steps + 1)
    for n, what in (
        (
            starts,
            "counts.derived_metal + counts.derived_oxide + counts.random "
            f"({counts.derived_metal:,} + {counts.derived_oxide:,} + "
            f"{counts.random:,} starts per loop)",
        ),
        (
            initial.structures,
            f"initial.structures (up to {calls:,} oracle calls for their "
            f"relaxations of initial.relax_steps = {initial.relax_steps})",
        ),
    ):
        try:
            check_structures(n, what)
        except ValueError as exc:
            problems.append(str(exc))
    largest = max(
        len(atoms)
        for phase in [*system.metal_phases, *system.oxide_phases]
        for atoms in phase.build()
    )
    if cfg.counts.random:
        random = system.random
        lightest = min(atomic_masses[atomic_numbers[e]] for e in system.elements)
        volume = cell_edge(random.cutoff_A, random.criterion) ** 3
        dense = random.density_g_cm3[1] * volume / G_CM3_PER_AMU_A3 / lightest
        largest = max(largest, int(dense))
    every = int(cfg.scheme.params.get("record_every", 1))
    frames = cfg.scheme.steps // every + 1
    try:
        check_frames(frames, largest, "scheme.steps")
    except ValueError as exc:
        problems.append(str(exc))
    return problems


def _section_problems(
    *,
    system: SystemConfig | None = None,
    scheme: SchemeConfig | None = None,
    oracle: OracleConfig | None = None,
    store: str | None = None,
    committee: Any = None,
) -> list[str]:
    # each check needs one section only, so a file whose other sections fail
    # to validate still hears every problem in one run
    from hyperal.evolve.schemes import make_evolver

    problems = []
    if system is not None:
        elements = system.elements
        problems += element_problems(elements)
        for where in ("metal_phases", "oxide_phases"):
            for k, phase in enumerate(getattr(system, where)):
                extra = sorted(set(_species(phase.species)) - set(elements))
                extra = [x for x in extra if x not in ("X", "vacancy", "Vac")]
                if extra:
                    problems.append(
                        f"system.{where}[{k}].species: {', '.join(extra)} not in "
                        f"system.elements ({', '.join(elements)})"
                    )
        for symbol in system.random.interstitials:
            if symbol not in elements:
                problems.append(
                    f"system.random.interstitials: {symbol} not in system.elements"
                )
        valid_elements = not problems
        if valid_elements:
            problems += _structure_problems(system)
            if committee is not None:
                problems += committee_problems(committee, elements)
    if scheme is not None:
        try:
            from ase.calculators.emt import EMT

            make_evolver(scheme.name, EMT(), scheme.params)
        except (ValueError, TypeError) as exc:
            problems.append(f"scheme.params: {str(exc).removeprefix('scheme: ')}")
    return problems + section_problems(oracle=oracle, store=store)


def _structure_problems(system: SystemConfig) -> list[str]:
    """Each phase built once (small, seeded), the random structures' size
    checked: a supercell or a cell too large to hold is refused here, with
    an estimate of its size, before anything is built in earnest."""
    from hyperal.structures import random_structures

    problems = []
    for where in ("metal_phases", "oxide_phases"):
        for k, phase in enumerate(getattr(system, where)):
            try:
                phase.build()
            except ValueError as exc:
                problems.append(f"system.{where}[{k}]: {exc}")
    random = system.random
    hosts = [e for e in system.elements if e not in random.interstitials]
    try:
        random_structures(
            0,
            dict.fromkeys(hosts, 1.0),
            cutoff_A=random.cutoff_A,
            criterion=random.criterion,
            density_g_cm3=random.density_g_cm3,
        )
    except ValueError as exc:
        problems.append(f"system.random: {exc}")
    return problems


def _valid_sections(data: dict) -> dict[str, Any]:
    """The sections of a file that fails validation that validate on their
    own (for :func:`_section_problems`)."""
    sections = {}
    for key, model in (
        ("system", SystemConfig),
        ("scheme", SchemeConfig),
        ("oracle", OracleConfig),
    ):
        if key in data:
            try:
                sections[key] = model.model_validate(data[key])
            except ValidationError:
                pass
    if isinstance(data.get("store", "campaign.db"), str):
        sections["store"] = data.get("store", "campaign.db")
    return sections


def parse_config(data: Any) -> CampaignConfig:
    """Validate a dict (as from YAML) into a :class:`CampaignConfig`: first
    each key's type and range, then what a valid-looking file can still get
    wrong (:func:`semantic_problems`) — every problem in one error."""
    if not isinstance(data, dict):
        raise ConfigError("the campaign file must be a YAML mapping of keys")
    try:
        config = CampaignConfig.model_validate(data)
    except ValidationError as exc:
        more = _section_problems(**_valid_sections(data))
        raise ConfigError(
            "\n".join([format_errors(exc, CampaignConfig), *more])
        ) from None
    problems = semantic_problems(config)
    if problems:
        raise ConfigError("\n".join(problems))
    return config


def load_config(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign YAML file."""
    return load_with(path, parse_config)


TEMPLATE = """\
# hyperal campaign file: `hyperal run campaign.yaml` grows a robust MLIP.
# Every key is listed with its default; `hyperal run` names any key it does
# not know, any value out of range, and the allowed values.

system:
  elements: [Cu, Ni, Pd]            # every element the potential must know
  metal_phases:                     # known phases (prototype, species per sublattice)
    - {prototype: fcc, species: [Cu, Ni, Pd], repeat: [2, 2, 2]}
  oxide_phases: []                  # e.g. {prototype: rutile, species: {cation: Ti}}
  derive_metal: {}      # docs/method.md §1.3 overrides, e.g. {displacement_std_A: 0.2}
  derive_oxide: {}
  random:                           # random structures (docs/method.md §1.4)
    cutoff_A: 5.0                   # interaction range: sets the cubic cell edge
    criterion: inner_half_unique    # sphere-of-influence operating point (or x = D/L)
    density_g_cm3: [7.0, 10.0]
    interstitials: {}               # e.g. {O: [0.0, 0.3]}

oracle:                             # the reference calculator (required)
  name: emt                         # emt, chgnet, sevenn, gpaw, or an import path
  kwargs: {}                        # passed to the calculator
  timeout_s: null                   # per-call limit (s)
  retries: 0
  stress: false                     # also label the stress of periodic cells
  workdir: null                     # each call runs in its own folder under this
                                    # (default <store>.calls beside the store)
  keep_workdirs: failed             # failed | all | none: which folders stay

initial:                            # oracle relaxations of rattled known phases
  source: known                     # or enumerated: icet decorations (below)
  # enumerated: {lattice: bcc, species: [Nb, Ti, Zr], interstitials: [O],
  #              sizes: 3, interstitial_fraction: [0.0, 0.3]}
  structures: 6                     # starts (enumerated: a seeded subset)
  rattle_A: 0.1
  relax_steps: 8                    # every step is one labelled structure
  fmax_eV_A: 0.05
  train_fraction: 0.5               # the rest is the frozen gentle test set

counts:                             # new starts per loop (reference: 50/50/100)
  derived_metal: 50
  derived_oxide: 50
  random: 100
difficult_fraction: 0.2             # of the starts, labelled as the difficult test set

scheme:  # md, advb_md, relax, advb_relax, ce, advb_ce, dimer, advb_dimer
  name: advb_ce
  steps: 100
  params: {}          # e.g. {gamma: 0.7} or {alpha: 2.0, temperature_K: 600}

selection:                          # one frame per evolved start is labelled
  max_force_eV_A: 25.0              # physical limits: a frame qualifies below F_max
  min_distance_A: 1.0               # ... and above this shortest distance
  per_atom: false                   # rank by σ_U / N
  rule: max_sigma                   # max_sigma, or random (the control)
  score: energy_sigma               # or force_sigma_max, force_sigma_mean
  batch: false                      # choose the loop's labels together, diverse
  redundancy_filter: true           # skip near-copies of data, take the next frame
  redundancy_threshold: 0.01        # relative descriptor distance (0: identical)
  candidates: 4                     # frames per trajectory to try (batch: pool)
  include_start: true               # may the unevolved start be labelled

committee:                          # the MLIP: backend bpnn (built in) or mace
  backend: bpnn                     # (mace: pip install hyperal[mace]; see the docs)
  n_members: 8
  hidden: [10, 10]                  # per-element network layers
  cutoff_A: 6.0
  n_radial: 16                      # radial functions per element pair
  activation: silu                  # silu, tanh
  dtype: float32                    # float32, float64
  device: cpu                       # or cuda
  warm_start: true                  # each loop's fit continues from the last one
  fit:
    epochs: 150                     # a cold fit (loop 0, or warm_start: false)
    warm_epochs: null               # a warm fit (default: epochs / 3)
    learning_rate: 0.01
    warm_learning_rate: null        # default: learning_rate / 5
    final_learning_rate: 0.0005
    energy_weight: 1.0
    force_weight: 1.0
    relative_force_weighting: false # |ΔF|² / (|F_ref|² + eps): saddles and minima
    batch_size: 8
    validation_fraction: 0.1
    patience: 50
    bootstrap: false

loops: 3
seed: 0
store: campaign.db                  # ase.db file (or postgresql://...)
executor:
  kind: inprocess                   # inprocess, process, dask
  workers: 1
  address: null                     # dask scheduler address (dask-jobqueue on Slurm)
  background_labels: true           # inprocess: the oracle works while the committee
                                    # evolves and fits (one oracle call at a time)
calibration:                        # is the committee's sigma calibrated? (report)
  alpha: 0.05                       # conformal level 1 - alpha
  aggregate: max                    # a structure's force sigma/error: max, mean, p95
stop:                               # stop before `loops` when a criterion holds
  improvement: null                 # e.g. 0.05: difficult-set force RMSE fell < 5 %
  patience: 2                       # ... over this many loops (same structures)
  force_sigma_eV_A: null            # e.g. 0.1: calibrated force sigma of the explored,
  share: 0.9                        # selected frames below it for this share
"""
