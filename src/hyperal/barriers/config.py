"""The barrier campaign file (``hyperal barriers run``): what alloy, which
hops, how the saddles are searched and sorted, the oracle and the committee.

Same conventions as the campaign file: pydantic types and ranges, unknown
keys refused with the allowed ones, then what a valid-looking file can still
get wrong (element symbols, hops that cannot be built, an oracle that cannot
be built, a store folder that does not exist) — every problem in one error,
before any oracle call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from hyperal.barriers.options import SaddleOptions
from hyperal.barriers.paths import MAX_ENUMERATED, load_case, path_environment
from hyperal.barriers.source import open_source
from hyperal.models.options import BPNNOptions, CommitteeOptions
from hyperal.runs.records import MAIN_RUN
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
    file_mapping,
    format_errors,
    load_with,
)
from hyperal.structures.limits import check_structures


class BarrierSystem(Settings):
    """The alloy: its elements (every lattice site holds one of them)."""

    elements: list[str] = Field(min_length=1)


class HopSpec(Settings):
    """A hop type: a named hop (bcc-vacancy, bcc-octahedral, fcc-vacancy) or
    a YAML file defining one, with its lattice parameter."""

    case: str
    a: float | None = Field(None, gt=0, description="lattice parameter (Å)")


class CellsConfig(Settings):
    """Supercells of the lattice's conventional cell, N1×N2×N3 with each Nᵢ
    in {2, 3} (docs/method.md §1.6); one drawn per hop. With ``strain``, each
    cell is also strained at random — a uniform linear strain (L'/L − 1) in
    ``linear_strain`` and a volume-preserving von Mises strain in
    ``von_mises_strain`` — to emulate the lattice strain of a complex alloy."""

    sizes: list[tuple[int, int, int]] = Field([(2, 2, 2)], min_length=1)
    strain: bool = False
    linear_strain: tuple[float, float] = (-0.05, 0.10)
    von_mises_strain: tuple[float, float] = (0.0, 0.05)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value):
        for size in value:
            if not set(size) <= {2, 3}:
                raise ValueError(f"each Nᵢ must be 2 or 3, got {list(size)}")
        return value

    @field_validator("linear_strain", "von_mises_strain")
    @classmethod
    def _range(cls, value, info):
        low, high = value
        floor = -0.5 if info.field_name == "linear_strain" else 0.0
        if not floor <= low <= high <= 0.5:
            raise ValueError(
                f"must be [low, high] with {floor} <= low <= high <= 0.5, "
                f"got {list(value)}"
            )
        return value


class CampaignSource(Settings):
    """A finished campaign whose training labels (those its committee of
    ``loop`` was fitted on; default its last finished loop) start the barrier
    campaign's training set, and whose committee the loop-0 fit continues
    from (``warm_start``)."""

    store: str
    run: str = MAIN_RUN
    loop: int | None = Field(None, ge=0)
    warm_start: bool = True


class InitialBarriers(Settings):
    """Loop 0: oracle saddle searches. ``train`` hops become the first
    training data (start, saddle and end); ``random_set`` hops are the frozen,
    randomly drawn check of barriers and forces (never trained on).
    ``from_campaign`` adds the training labels of an earlier campaign (no
    oracle call) and may take the place of the training hops (``train: 0``)."""

    train: int = Field(4, ge=0)
    random_set: int = Field(4, ge=1)
    path_stride: int = Field(
        5,
        ge=1,
        description="every structure an oracle search labels is stored; every "
        "path_stride-th of a training hop's trains (with its start, saddle, end)",
    )
    from_campaign: CampaignSource | None = None


class TriageConfig(Settings):
    """How an MLIP saddle is sorted once the oracle has labelled it."""

    artifact_force_eV_A: float = Field(
        2.0,
        gt=0,
        description="oracle max force above this: an artifactual saddle (trains); "
        "else a proximal one (the proximal-saddle test set)",
    )
    min_distance_A: float = Field(
        1.5, ge=0, description="atoms closer than this: blocked, never labelled"
    )
    max_force_eV_A: float = Field(
        25.0, gt=0, description="MLIP forces beyond this: blocked, never labelled"
    )
    barrier_error_eV: float | None = Field(
        0.05,
        gt=0,
        description="energy rule: the oracle also labels the committee's relaxed "
        "start of each labelled saddle; when the committee's barrier differs from "
        "the oracle's at those two structures by more than this, the saddle and "
        "its start train, whatever the force rule says (null: the force rule only)",
    )


class HopSelection(Settings):
    """Which hops a loop searches on the committee: the first ``starts``
    drawn (``score: none``), or the tail of a score of the drawn hops' start
    states — ``sigma`` (the committee's σ_U per atom) or ``gamma`` (the
    extrapolation grade) — drawn until ``starts`` / (1 − ``test_fraction``)
    lie above median(ln score) + 1.5·s; ``test_fraction`` of those are
    labelled into the tail test set instead of searched. When ``max_drawn``
    hops hold too few in the tail (a score whose ln is far from Gaussian),
    the highest-scoring drawn hops are taken."""

    score: Literal["none", "sigma", "gamma"] = "sigma"
    test_fraction: float = Field(0.2, ge=0, lt=1)
    min_drawn: int = Field(50, ge=1)
    max_drawn: int = Field(500, ge=1)


class BarrierConfig(Settings):
    """A barrier campaign."""

    system: BarrierSystem
    hops: list[HopSpec] = Field(min_length=1)
    oracle: OracleConfig
    cells: CellsConfig = CellsConfig()
    environments: Literal["random", "enumerated"] = Field(
        "random",
        description="random: each hop's environment drawn uniformly over the "
        "symmetry-distinct ones; enumerated: all distinct environments listed "
        "and taken in a seeded order, none again before every one was used",
    )
    initial: InitialBarriers = InitialBarriers()
    starts: int = Field(6, ge=1, description="MLIP saddle searches per loop")
    selection: HopSelection = HopSelection()
    saddle: SaddleOptions = SaddleOptions()
    triage: TriageConfig = TriageConfig()
    committee: CommitteeOptions = BPNNOptions()
    loops: int = Field(3, ge=1)
    seed: int = Field(0, ge=0, lt=2**32)
    store: str = "barriers.db"
    executor: ExecutorConfig = ExecutorConfig()
    calibration: CalibrationConfig = CalibrationConfig()

    def interstitial_species(self) -> set[str]:
        """The species that hop between interstitial sites."""
        cases = [load_case(h.case, a=h.a) for h in self.hops]
        return {c.hopping for c in cases if c.kind == "interstitial"}

    def lattice_species(self) -> list[str]:
        """The species of the lattice sites: the elements less those that hop
        between interstitial sites (O in NbTiZr+O: a metal-vacancy hop is then
        drawn in the O-free alloy)."""
        hopping = self.interstitial_species()
        return [e for e in self.system.elements if e not in hopping]


def _hop_problems(config: BarrierConfig) -> list[str]:
    problems, environments = [], []
    for k, hop in enumerate(config.hops):
        try:
            case = load_case(hop.case, a=hop.a)
            environments.append(path_environment(case))
        except ValueError as exc:
            problems.append(f"hops[{k}].case: {exc}")
            continue
        if case.kind == "interstitial" and case.hopping not in config.system.elements:
            problems.append(
                f"hops[{k}]: the hopping species {case.hopping} is not in "
                "system.elements"
            )
    if problems:
        return problems
    species = len(config.lattice_species())
    if species == 0:
        return ["system.elements: no element is left for the lattice sites"]
    for k, (hop, env) in enumerate(zip(config.hops, environments, strict=True)):
        walk = species**env.n_sites
        if config.environments == "enumerated" and walk > MAX_ENUMERATED:
            problems.append(
                f"environments: enumerated: hops[{k}] ({hop.case}) has "
                f"{species}^{env.n_sites} = {walk:,} decorations "
                f"to walk (limit {MAX_ENUMERATED:,}); use environments: random"
            )
    return problems


def _limit_problems(config: BarrierConfig) -> list[str]:
    """Counts and a committee within the resource limits (one line each)."""

    problems = []
    for key, n in (
        ("starts", config.starts),
        ("initial.train", config.initial.train),
        ("initial.random_set", config.initial.random_set),
        ("selection.max_drawn", config.selection.max_drawn),
    ):
        try:
            check_structures(n, key)
        except ValueError as exc:
            problems.append(str(exc))
    return problems + committee_problems(config.committee, config.system.elements)


def _initial_problems(config: BarrierConfig) -> list[str]:
    if config.initial.from_campaign is None:
        if config.initial.train == 0:
            return [
                "initial.train: 0 training hops leave loop 0 nothing to fit; "
                "give at least 1, or initial.from_campaign"
            ]
        return []
    try:
        open_source(config)
    except ValueError as exc:
        return str(exc).splitlines()
    return []


def parse_barrier_config(data: Any) -> BarrierConfig:
    """Validate a dict (as from YAML): types and ranges, then the elements,
    the hops, the oracle and the store folder — every problem in one error."""
    data = file_mapping(data, "a barrier campaign file")
    try:
        config = BarrierConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, BarrierConfig)) from None
    # the campaign's own checks of elements, oracle and store folder
    problems = section_problems(
        oracle=config.oracle, store=config.store, executor=config.executor
    )
    problems += element_problems(config.system.elements)
    if not problems:
        problems += _limit_problems(config) + _hop_problems(config)
    if not problems:
        problems += _initial_problems(config)  # opens the source store
    if problems:
        raise ConfigError("\n".join(problems))
    return config


def load_barrier_config(path: str | Path) -> BarrierConfig:
    """Read and validate a barrier campaign YAML file."""
    return load_with(path, parse_barrier_config)


TEMPLATE = """\
# hyperal barrier campaign (hyperal barriers run this-file.yaml)
system:
  elements: [Cu, Ni, Pd]        # every lattice site holds one of these
hops:                    # bcc-vacancy, bcc-octahedral, fcc-vacancy or a YAML file
  - {case: fcc-vacancy, a: 3.7}
cells:
  sizes: [[2, 2, 2]]            # N1×N2×N3 conventional cells, each Nᵢ 2 or 3
  strain: false                 # true: random strain per cell (ranges below)
  linear_strain: [-0.05, 0.10]  # L'/L - 1, uniform
  von_mises_strain: [0.0, 0.05] # volume-preserving part, uniform
environments: random            # random | enumerated (each distinct one in turn)
initial:
  train: 4                      # oracle saddle searches for the first training data
  random_set: 4                 # oracle saddle searches: the frozen random check
  path_stride: 5                # every 5th structure of an oracle search trains
  # from_campaign:              # start from an earlier campaign's labels
  #   store: campaign.db        # and committee (its last finished loop)
  #   run: main
  #   warm_start: true
starts: 6                       # MLIP saddle searches per loop
selection:                      # which hops: the tail of sigma | gamma, or none
  score: sigma
  test_fraction: 0.2            # of the tail: labelled into the tail test set
saddle:
  fmax_eV_A: 0.05               # force convergence of the dimer / NEB
  method: auto                  # auto (dimer, NEB when it fails), dimer, neb
  relax_steps: 200
  dimer_steps: 200
  neb_images: 5
  neb_steps: 200
  relax_fmax_eV_A: null         # ends and connection check (default fmax_eV_A)
  intermediates: 1              # intermediate minima a hop may pass through
triage:
  artifact_force_eV_A: 2.0      # oracle max force above: artifactual -> training
  min_distance_A: 1.5           # closer atoms: blocked
  max_force_eV_A: 25.0          # larger MLIP forces: blocked
  barrier_error_eV: 0.05        # committee barrier off the oracle's by more:
                                # saddle and start train (null: force rule only)
oracle: {name: emt}
committee:
  backend: bpnn
  n_members: 4
  hidden: [16, 16]
  cutoff_A: 5.0
  fit: {epochs: 100, relative_force_weighting: false}  # true: docs/method.md §5
loops: 3
seed: 0
store: barriers.db
"""
