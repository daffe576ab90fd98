"""Committee uncertainty and the adversarial bias, as ASE calculators."""

from hyperal.committee.bias import AdversarialBias
from hyperal.committee.committee import (
    Committee,
    CommitteeStatistics,
    committee_statistics,
)
from hyperal.committee.emt import PerturbedEMT, emt_committee, perturbed_emt_members

__all__ = [
    "AdversarialBias",
    "Committee",
    "CommitteeStatistics",
    "PerturbedEMT",
    "committee_statistics",
    "emt_committee",
    "perturbed_emt_members",
]
