"""Diffusion-barrier tools: hop-path environments counted by symmetry
(:mod:`hyperal.barriers.paths`) and the automated saddle search
(:mod:`hyperal.barriers.saddle`, its legs in :mod:`hyperal.barriers.legs`),
and the rows a barrier campaign writes (:mod:`hyperal.barriers.records`)."""

from hyperal.barriers.cells import decorated_cell, describe
from hyperal.barriers.counting import burnside
from hyperal.barriers.legs import SaddleSearch
from hyperal.barriers.options import SaddleOptions
from hyperal.barriers.paths import (
    CONVENTIONS,
    HopCase,
    PathEnvironment,
    canonical,
    load_case,
    named_cases,
    path_environment,
    representatives,
    sample,
)
from hyperal.barriers.records import BarrierSplit, BarrierStage, HopRow, HopWhere
from hyperal.barriers.saddle import SaddleResult, find_saddle

__all__ = [
    "CONVENTIONS",
    "BarrierSplit",
    "BarrierStage",
    "HopCase",
    "HopRow",
    "HopWhere",
    "PathEnvironment",
    "SaddleOptions",
    "SaddleResult",
    "SaddleSearch",
    "burnside",
    "canonical",
    "decorated_cell",
    "describe",
    "find_saddle",
    "load_case",
    "named_cases",
    "path_environment",
    "representatives",
    "sample",
]
