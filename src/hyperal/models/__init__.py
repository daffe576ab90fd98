"""MLIP backends behind one protocol (:mod:`hyperal.models.protocol`).

``BACKENDS`` maps a backend name (the campaign file's ``committee.backend``)
to its :class:`~hyperal.models.protocol.Backend`: the built-in
Behler–Parrinello committee (``bpnn``) and MACE (``mace``, the optional
``hyperal[mace]`` extra, imported only when used).
"""

from hyperal.labels import reference_labels
from hyperal.models.bpnn import BPNN, BPNNCalculator, FitResult
from hyperal.models.descriptors import BPDescriptor
from hyperal.models.registry import BACKENDS, get_backend

__all__ = [
    "BACKENDS",
    "BPDescriptor",
    "BPNN",
    "BPNNCalculator",
    "FitResult",
    "get_backend",
    "reference_labels",
]
