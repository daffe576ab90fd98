"""Committee uncertainty and the adversarial bias, as ASE calculators."""

from hyperal.committee.bias import AdversarialBias
from hyperal.committee.committee import Committee
from hyperal.committee.emt import PerturbedEMT, emt_committee, perturbed_emt_members
from hyperal.committee.grade import ExtrapolationGrade
from hyperal.committee.statistics import CommitteeStatistics, committee_statistics

__all__ = [
    "AdversarialBias",
    "Committee",
    "ExtrapolationGrade",
    "CommitteeStatistics",
    "PerturbedEMT",
    "committee_statistics",
    "emt_committee",
    "perturbed_emt_members",
]
