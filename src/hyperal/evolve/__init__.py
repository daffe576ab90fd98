"""Structure evolution (docs/method.md §3): MD, relaxation, contour exploration
and dimer, each optionally pushed toward where the committee disagrees, and
the selection of the frame worth labelling."""

from hyperal.evolve.base import Evolver
from hyperal.evolve.contour import ContourEvolver, SteeredContourExploration
from hyperal.evolve.dimer import DimerEvolver
from hyperal.evolve.frames import EvolveResult, Frame, shortest_distance
from hyperal.evolve.md import MDEvolver
from hyperal.evolve.relax import RelaxEvolver
from hyperal.evolve.rules import RULES, Rule, register_rule
from hyperal.evolve.schemes import SCHEMES, Scheme, make_evolver
from hyperal.evolve.scores import SCORES, Score, frame_scores, register_score
from hyperal.evolve.select import (
    BatchChoice,
    RedundancyFilter,
    SelectResult,
    select_batch,
    select_frame,
)
from hyperal.evolve.settings import AlphaBias, GammaBias, scheme_settings

__all__ = [
    "RULES",
    "SCHEMES",
    "SCORES",
    "AlphaBias",
    "BatchChoice",
    "ContourEvolver",
    "DimerEvolver",
    "EvolveResult",
    "GammaBias",
    "Evolver",
    "Frame",
    "MDEvolver",
    "RedundancyFilter",
    "RelaxEvolver",
    "Rule",
    "Scheme",
    "Score",
    "SelectResult",
    "SteeredContourExploration",
    "frame_scores",
    "make_evolver",
    "register_rule",
    "register_score",
    "scheme_settings",
    "select_batch",
    "select_frame",
    "shortest_distance",
]
