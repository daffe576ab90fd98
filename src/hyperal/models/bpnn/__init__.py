"""The built-in committee MLIP: Behler–Parrinello networks batched over members.

One job per module: :mod:`.network` (the batched per-element networks),
:mod:`.graph` (descriptors of a neighbour list and their pair Jacobians),
:mod:`.model` (:class:`BPNN`: evaluation, features, save/load), :mod:`.train`
(fitting), :mod:`.calculator` (the ASE calculator) and :mod:`.backend` (the
model-backend protocol adapter the campaign uses).
"""

from hyperal.labels import reference_labels
from hyperal.models.bpnn.calculator import BPNNCalculator
from hyperal.models.bpnn.model import BPNN
from hyperal.models.bpnn.train import FitResult

__all__ = ["BPNN", "BPNNCalculator", "FitResult", "reference_labels"]
