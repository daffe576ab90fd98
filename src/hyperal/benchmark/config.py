"""The benchmark file: a base campaign, the variants (schemes with their
parameters and selection) to compare, and how many replicate seeds.

Every variant of a replicate runs the base campaign with its own scheme on
the same initial data, the same starts per loop and the same test sets; only
the exploration (and the selection rule) differs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from ase.calculators.emt import EMT
from pydantic import Field, ValidationError, field_validator

from hyperal.benchmark.variants import Variant, VariantConfig, default_variants
from hyperal.campaign.config import CampaignConfig, SelectionConfig
from hyperal.campaign.validate import parse_config
from hyperal.evolve.schemes import SCHEMES, make_evolver
from hyperal.evolve.settings import (
    BIASED,
    FAMILIES,
    TWIN_ONLY,
    SchemeBase,
    SchemeSection,
    scheme_problem,
    scheme_settings,
)
from hyperal.runs.settings import (
    ConfigError,
    Settings,
    file_mapping,
    format_errors,
    in_file,
    read_file,
)
from hyperal.structures.io import read_labelled
from hyperal.utils import changed

#: The frozen sets every benchmark has; ``difficult_capped`` is the
#: difficult set less the structures beyond the selection's physical limits
#: (reference max |F| ≥ ``selection.max_force_eV_A``, or a distance ≤
#: ``selection.min_distance_A``), which no training frame may be.
CAPPED = "difficult_capped"
BUILT_IN = ("difficult", CAPPED, "gentle", "test_file")


#: The schemes a trajectory-only benchmark may run on the oracle: the plain
#: ones (a biased scheme needs a committee to be biased by).
TRAJECTORY_SOURCES = tuple(name for name, s in SCHEMES.items() if not s.biased)


class TrajectoryConfig(Settings):
    """The trajectory-only benchmark (``hyperal benchmark --trajectories``):
    each source scheme runs on the oracle from the same starts; a committee
    is trained on each source's trajectories and tested on the withheld
    trajectories of every source. No active learning."""

    sources: list[str] = Field(
        ["md", "ce", "dimer"],
        description="plain schemes run on the oracle, each with the "
        "scheme_params of its family",
    )
    starts: int | None = Field(
        None,
        ge=2,
        description="starts per replicate, the same for every source (default: "
        "all of the campaign's loop-1 starts)",
    )
    withheld: float = Field(
        0.25,
        gt=0,
        lt=1,
        description="share of the starts whose trajectories are withheld as "
        "the test set (at least one start, and at least one left to train on)",
    )
    steps: int | None = Field(
        None, ge=1, description="steps per trajectory (default: the campaign's)"
    )
    frames: int | None = Field(
        None,
        ge=1,
        description="training frames per source, evenly spaced over its "
        "trajectories (default and at most: the fewest any source has)",
    )

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one source scheme")
        unknown = [s for s in value if s not in TRAJECTORY_SOURCES]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))}: not a plain scheme; allowed: "
                f"{', '.join(TRAJECTORY_SOURCES)} (a biased scheme needs a "
                "committee, and these trajectories run on the oracle)"
            )
        twice = sorted({s for s in value if value.count(s) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed twice")
        return value


class PrimaryConfig(Settings):
    """The confirmatory question, declared in the file before the run: one
    measure on one frozen test set, the comparisons it decides, the level.
    Every other figure the benchmark prints is exploratory."""

    measure: Literal["stratum_balanced", "worst_stratum"] = Field(
        "stratum_balanced",
        description="stratum_balanced: the mean over the test set's strata of "
        "each stratum's force RMSE (every stratum weighted equally); "
        "worst_stratum: the largest per-stratum ratio of a variant's force "
        "RMSE to the other's, with simultaneous intervals",
    )
    test_set: str = Field(
        description="the frozen set it is measured on (a name of test_sets, "
        "built apart from every campaign; or a built-in set)"
    )
    comparisons: list[str] = Field(
        [],
        description="'variant vs other' each; default: every variant against "
        "the control",
    )
    alpha: float = Field(0.05, gt=0, lt=0.5, description="family-wise level")
    draws: int = Field(2000, ge=200, description="two-way bootstrap draws (seeded)")

    def pairs(
        self, bench: BenchmarkConfig, base: CampaignConfig
    ) -> list[tuple[str, str]]:
        """The (variant, other) pairs compared."""
        if self.comparisons:
            return [tuple(c.split(" vs ")) for c in self.comparisons]  # type: ignore[misc]
        control = bench.control_variant(base)
        return [(v.name, control) for v in bench.variants if v.name != control]

    @field_validator("comparisons")
    @classmethod
    def _comparisons(cls, value: list[str]) -> list[str]:
        for text in value:
            parts = text.split(" vs ")
            if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
                raise ValueError(
                    f"{text!r}: write 'variant vs other', two different variants"
                )
        return value


class BenchmarkConfig(Settings):
    """A benchmark: which exploration gives the best potential per oracle call."""

    campaign: str | dict[str, Any] = Field(
        description="the base campaign: a YAML path (relative to this file) "
        "or the campaign's keys inline"
    )
    variants: list[VariantConfig] = Field(default_factory=default_variants)
    replicates: int = Field(3, ge=1, description="seeds: campaign seed + 0, 1, ...")
    scheme_params: dict[str, dict[str, Any]] = Field(
        {},
        description="parameters per scheme family (md, relax, ce, dimer), shared "
        "by the plain scheme and its biased twin; a variant's params win",
    )
    reference: str = Field(
        "md", description="the variant whose final error is the target"
    )
    control: str | None = Field(
        None,
        description="the control every variant is also compared with, paired "
        "(default: the first variant whose selection rule is random, if any)",
    )
    rank_set: str | list[str] = Field(
        "difficult",
        description="the frozen set whose force RMSE ranks the variants and "
        "sets the target: difficult, difficult_capped (the difficult "
        "structures within the selection's physical limits), gentle, "
        "test_file or a name of test_sets; a list ranks on their union",
    )
    test_sets: dict[str, str] = Field(
        {},
        description="named frozen test sets: extxyz files with reference "
        "labels (e.g. written by `hyperal testset`), each structure's "
        "info['source'] its stratum; paths relative to this file",
    )
    target_force_rmse_meV_A: float | None = Field(
        None,
        gt=0,
        description="force RMSE on rank_set to reach; default: the reference "
        "variant's final one, per replicate",
    )
    test_file: str | None = Field(
        None, description="an extra frozen test set: extxyz with reference labels"
    )
    primary: PrimaryConfig | None = Field(
        None,
        description="the confirmatory measure and comparisons, declared before "
        "the run; without it every figure is exploratory",
    )
    store: str = "benchmark.db"
    trajectories: TrajectoryConfig = Field(
        default_factory=TrajectoryConfig,
        description="the trajectory-only benchmark (--trajectories)",
    )

    @property
    def rank_members(self) -> list[str]:
        """The frozen sets ``rank_set`` names (one, or the union's)."""
        return [self.rank_set] if isinstance(self.rank_set, str) else self.rank_set

    @property
    def rank_name(self) -> str:
        """The name of the ranking set: a union is named ``a+b``."""
        return "+".join(self.rank_members)

    def set_names(self) -> list[str]:
        """Every frozen set a benchmark may rank on."""
        names = ["difficult", CAPPED, "gentle"]
        if self.test_file is not None:
            names.append("test_file")
        return names + list(self.test_sets)

    def control_variant(self, base: CampaignConfig) -> str | None:
        """``control``, else the first variant whose rule reads no score
        (selecting at random)."""
        if self.control is not None:
            return self.control
        for v in self.variants_of(base):
            if not v.rule.uses_score:
                return v.name
        return None

    def variants_of(self, base: CampaignConfig) -> list[Variant]:
        """Every variant resolved against the base campaign (raises
        pydantic's ValidationError for a wrong scheme or selection key;
        :func:`load_benchmark` has named each before)."""
        return [self.variant_of(v, base) for v in self.variants]

    def variant_of(self, variant: VariantConfig, base: CampaignConfig) -> Variant:
        """``variant`` resolved against the base campaign."""
        return Variant(
            variant,
            self.scheme_of(variant, base.scheme.steps),
            changed(base.selection, **variant.selection),
        )

    def scheme_data(
        self, variant: VariantConfig, steps: int | None = None
    ) -> dict[str, Any]:
        """The campaign ``scheme`` section of ``variant`` (``steps`` unless
        it sets its own; neither: the scheme's default): its family's
        ``scheme_params`` under its own ``params``, and its ``bias``. A plain
        variant does not take the adaptive-α keys a family's ``scheme_params``
        give its biased twin."""
        name = variant.scheme_name
        shared = self.scheme_params.get(name.removeprefix(BIASED), {})
        twin = {k: v for k, v in shared.items() if k in TWIN_ONLY}
        rest = {k: v for k, v in shared.items() if k not in TWIN_ONLY}
        data: dict[str, Any] = {"name": name}
        if variant.steps or steps:
            data["steps"] = variant.steps or steps
        if variant.bias is not None:
            data["bias"] = {**twin, **variant.bias}
        elif name.startswith(BIASED):
            rest = shared  # the registry form: the bias among the params
        data["params"] = {**rest, **variant.params}
        return data

    def scheme_of(self, variant: VariantConfig, steps: int | None = None) -> SchemeBase:
        """The typed scheme of ``variant`` (raises pydantic's ValidationError);
        ``steps`` as in :meth:`scheme_data`."""
        return scheme_settings(self.scheme_data(variant, steps))

    def source_params(self, source: str) -> dict[str, Any]:
        """The evolver parameters of a trajectory source: its family's
        ``scheme_params``."""
        return dict(self.scheme_params.get(source, {}))

    @field_validator("test_sets")
    @classmethod
    def _test_sets(cls, value: dict) -> dict:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_\-]+", name) or name in BUILT_IN:
                raise ValueError(
                    f"test set name {name!r}: letters, digits, '_' and '-' only, "
                    f"not {', '.join(BUILT_IN)}"
                )
        return value

    @field_validator("rank_set")
    @classmethod
    def _rank_set(cls, value):
        members = [value] if isinstance(value, str) else value
        if not members:
            raise ValueError("name at least one frozen set")
        twice = sorted({m for m in members if members.count(m) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed twice")
        return value

    @field_validator("scheme_params")
    @classmethod
    def _families(cls, value: dict) -> dict:
        families = sorted({name.removeprefix("advb_") for name in SCHEMES})
        unknown = sorted(set(value) - set(families))
        if unknown:
            raise ValueError(
                f"unknown scheme family {', '.join(unknown)}; allowed: "
                f"{', '.join(families)}"
            )
        return value


def _check(bench: BenchmarkConfig, base: CampaignConfig) -> list[str]:
    """Every problem of the variants, one line each naming the key."""

    problems = []
    names = [v.name for v in bench.variants]
    if bench.control is not None and bench.control not in names:
        problems.append(
            f"control: {bench.control!r} is not a variant; allowed: {', '.join(names)}"
        )
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"variants: name {name!r} used twice")
    if bench.reference not in names:
        problems.append(
            f"reference: {bench.reference!r} is not a variant; allowed: "
            f"{', '.join(names)}"
        )
    for i, variant in enumerate(bench.variants):
        where = f"variants[{i}] ({variant.name})"
        if variant.scheme_name not in SCHEMES and variant.scheme_name not in FAMILIES:
            problems.append(
                f"{where}.scheme: unknown scheme {variant.scheme_name!r}; "
                f"allowed: {', '.join(FAMILIES)} or {', '.join(SCHEMES)}"
            )
            continue
        try:
            changed(base.selection, **variant.selection)
        except ValidationError as exc:
            for line in format_errors(exc, SelectionConfig).splitlines():
                problems.append(f"{where}.selection.{line}")
        try:
            scheme = bench.scheme_of(variant)
        except ValidationError as exc:
            for line in format_errors(exc, SchemeSection).splitlines():
                problems.append(f"{where}.{line.removeprefix('scheme.')}")
            continue
        if problem := scheme_problem(scheme, where):
            problems.append(problem)
    if base.stop.improvement is not None or base.stop.force_sigma_eV_A is not None:
        problems.append(
            "campaign.stop: a benchmark runs every variant for all `loops`, so "
            "that they compare at equal loops; remove `stop` (it is for "
            "`hyperal run`)"
        )
    for source in bench.trajectories.sources:
        try:
            make_evolver(source, EMT(), bench.source_params(source))
        except (ValueError, TypeError) as exc:
            problems.append(f"scheme_params.{source} (trajectories): {exc}")
    return problems


def rank_set_problems(bench: BenchmarkConfig, members, where: str) -> list[str]:
    """A line for each of ``members`` that is not a frozen set of ``bench``."""
    allowed = bench.set_names()
    return [
        f"{where}: {m!r} is not a frozen set of this benchmark; allowed: "
        f"{', '.join(allowed)}"
        + (" (test_file needs a test_file)" if m == "test_file" else "")
        for m in members
        if m not in allowed
    ]


def primary_problems(bench: BenchmarkConfig, base: CampaignConfig) -> list[str]:
    """A line for each mistake of the ``primary`` section."""
    primary = bench.primary
    if primary is None:
        return []
    problems = rank_set_problems(bench, [primary.test_set], "primary.test_set")
    names = [v.name for v in bench.variants]
    if not primary.comparisons and bench.control_variant(base) is None:
        problems.append(
            "primary.comparisons: none given and no control (a variant with "
            "rule: random, or `control`) to compare every variant with"
        )
    for k, pair in enumerate(primary.pairs(bench, base) if primary.comparisons else []):
        for name in pair:
            if name not in names:
                problems.append(
                    f"primary.comparisons[{k}]: {name!r} is not a variant; "
                    f"allowed: {', '.join(names)}"
                )
    return problems


def load_benchmark(path: str | Path) -> tuple[BenchmarkConfig, CampaignConfig]:
    """Read and validate a benchmark YAML file and its base campaign; every
    problem is reported together, one line each naming the key."""
    path = Path(path)
    data = read_file(path)
    try:
        data = file_mapping(data, "a benchmark file")
    except ConfigError as exc:
        raise in_file(path, str(exc)) from None
    try:
        bench = BenchmarkConfig.model_validate(data)
    except ValidationError as exc:
        raise in_file(path, format_errors(exc, BenchmarkConfig)) from None
    campaign = bench.campaign
    if isinstance(campaign, str):
        campaign_path = (path.parent / campaign).resolve()
        if not campaign_path.exists():
            raise in_file(path, f"campaign: {campaign_path}: no such file")
        campaign = read_file(campaign_path)
    try:
        base = parse_config(campaign)
    except ConfigError as exc:
        lines = [f"campaign.{line}" for line in str(exc).splitlines()]
        raise in_file(path, lines) from None
    problems = _check(bench, base)
    if bench.test_file is not None:
        test_file = (path.parent / bench.test_file).resolve()
        if not test_file.exists():
            problems.append(f"test_file: {test_file}: no such file")
        bench = bench.model_copy(update={"test_file": str(test_file)})
    test_sets = {}
    for name, file in bench.test_sets.items():
        test_sets[name] = str((path.parent / file).resolve())
        if not Path(test_sets[name]).exists():
            problems.append(f"test_sets.{name}: {test_sets[name]}: no such file")
    bench = bench.model_copy(update={"test_sets": test_sets})
    # read now, not after the shared labels are paid: an unreadable file or
    # one without reference labels is named by its key
    files = {"test_file": bench.test_file} if bench.test_file else {}
    files.update({f"test_sets.{k}": v for k, v in test_sets.items()})
    for key, file in files.items():
        if Path(file).exists():
            try:
                read_labelled(file)
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
    problems += rank_set_problems(bench, bench.rank_members, "rank_set")
    try:  # the primary section reads the variants' rules
        bench.variants_of(base)
    except ValueError:  # a variant that does not resolve: named above
        pass
    else:
        problems += primary_problems(bench, base)
    if problems:
        raise in_file(path, problems)
    return bench, base
