"""Reading a campaign file: its schema (:mod:`.config`) first, then what a
valid-looking file can still get wrong — unknown elements, species outside
the system, scheme parameters the evolver does not take, an oracle that
cannot be built, a workload beyond the limits — every problem in one
:class:`~hyperal.runs.settings.ConfigError`, one line each naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from ase.data import atomic_masses, atomic_numbers
from pydantic import (
    ValidationError,
)

from hyperal.campaign.config import CampaignConfig, SystemConfig
from hyperal.evolve.settings import SchemeBase, scheme_problem, scheme_settings
from hyperal.runs.sections import (
    ExecutorConfig,
    OracleConfig,
    committee_problems,
    section_problems,
)
from hyperal.runs.settings import (
    ConfigError,
    element_problems,
    file_mapping,
    format_errors,
    load_with,
)
from hyperal.structures import random_structures
from hyperal.structures.limits import check_frames, check_structures
from hyperal.structures.random import G_CM3_PER_AMU_A3
from hyperal.structures.soi import cell_edge
from hyperal.utils import ParameterError


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
        executor=cfg.executor,
    )
    problems += _initial_problems(cfg)
    if cfg.stop.audit_force_rmse_meV_A is not None and not cfg.selection.random_share:
        problems.append(
            "stop.audit_force_rmse_meV_A: needs audit labels; set "
            "selection.random_share (e.g. 0.2)"
        )
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
    every = cfg.scheme.params.record_every
    frames = cfg.scheme.steps // every + 1
    try:
        check_frames(frames, largest, "scheme.steps")
    except ValueError as exc:
        problems.append(str(exc))
    return problems


def _section_problems(
    *,
    system: SystemConfig | None = None,
    scheme: SchemeBase | None = None,
    oracle: OracleConfig | None = None,
    store: str | None = None,
    committee: Any = None,
    executor: ExecutorConfig | None = None,
) -> list[str]:
    # each check needs one section only, so a file whose other sections fail
    # to validate still hears every problem in one run

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
    if scheme is not None and (problem := scheme_problem(scheme)):
        problems.append(problem)
    return problems + section_problems(oracle=oracle, store=store, executor=executor)


def _structure_problems(system: SystemConfig) -> list[str]:
    """Each phase built once (small, seeded), the random structures' size
    checked: a supercell or a cell too large to hold is refused here, with
    an estimate of its size, before anything is built in earnest."""

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
    except ParameterError as exc:
        problems.append(f"system.random.{exc.key}: {exc.detail}")
    except ValueError as exc:
        problems.append(f"system.random: {exc}")
    return problems


def _valid_sections(data: dict) -> dict[str, Any]:
    """The sections of a file that fails validation that validate on their
    own (for :func:`_section_problems`)."""
    sections = {}
    for key, validate in (
        ("system", SystemConfig.model_validate),
        ("scheme", scheme_settings),
        ("oracle", OracleConfig.model_validate),
    ):
        if key in data:
            try:
                sections[key] = validate(data[key])
            except ValidationError:
                pass
    if isinstance(data.get("store", "campaign.db"), str):
        sections["store"] = data.get("store", "campaign.db")
    return sections


def parse_config(data: Any) -> CampaignConfig:
    """Validate a dict (as from YAML) into a :class:`CampaignConfig`: first
    each key's type and range, then what a valid-looking file can still get
    wrong (:func:`semantic_problems`) — every problem in one error."""
    data = file_mapping(data, "a campaign file")
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
