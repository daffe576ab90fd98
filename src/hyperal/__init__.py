"""hyperal: robust machine-learned interatomic potentials from the fewest
reference calculations, by committee uncertainty and adversarial bias."""

from hyperal import metrics
from hyperal.committee import (
    AdversarialBias,
    Committee,
    committee_statistics,
    emt_committee,
)

__version__ = "0.1.0"
"""The installed version of hyperal."""

__all__ = [
    "AdversarialBias",
    "Committee",
    "__version__",
    "committee_statistics",
    "emt_committee",
    "metrics",
]
