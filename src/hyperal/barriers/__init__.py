"""Diffusion-barrier tools: hop-path environments counted by symmetry
(:mod:`hyperal.barriers.paths`)."""

from hyperal.barriers.paths import (
    CONVENTIONS,
    HopCase,
    PathEnvironment,
    burnside,
    canonical,
    decorated_cell,
    describe,
    load_case,
    named_cases,
    path_environment,
    representatives,
    sample,
)

__all__ = [
    "CONVENTIONS",
    "HopCase",
    "PathEnvironment",
    "burnside",
    "canonical",
    "decorated_cell",
    "describe",
    "load_case",
    "named_cases",
    "path_environment",
    "representatives",
    "sample",
]
