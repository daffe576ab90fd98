"""Sources of starting structures (docs/method.md §1), from the most a-priori
knowledge to the least: known phases, enumerated decorations, derived
(perturbed) structures and random structures; plus compositions, cell
morphologies and the sphere-of-influence metrics that size a random cell. Every
function returns a list of Atoms whose ``info["source"]`` says where it came
from, and draws from an explicit ``rng``."""

from hyperal.structures.composition import composition_counts, sample_compositions
from hyperal.structures.derive import DEFAULTS, DerivationParameters, derive_structures
from hyperal.structures.enumerate import (
    count_decorations,
    enumerate_decorations,
    estimate_count,
    interstitial_parent,
)
from hyperal.structures.io import read_structures, write_structures
from hyperal.structures.known import LATTICE_PARAMETERS, PROTOTYPES, known_structures
from hyperal.structures.morphology import Morphology, sample_morphologies
from hyperal.structures.random import PlacementError, random_structures
from hyperal.structures.soi import OPERATING_POINTS, cell_edge, soi_metrics, x_for

__all__ = [
    "DEFAULTS",
    "LATTICE_PARAMETERS",
    "OPERATING_POINTS",
    "PROTOTYPES",
    "DerivationParameters",
    "Morphology",
    "PlacementError",
    "cell_edge",
    "composition_counts",
    "count_decorations",
    "derive_structures",
    "enumerate_decorations",
    "estimate_count",
    "interstitial_parent",
    "known_structures",
    "random_structures",
    "read_structures",
    "sample_compositions",
    "sample_morphologies",
    "soi_metrics",
    "write_structures",
    "x_for",
]
