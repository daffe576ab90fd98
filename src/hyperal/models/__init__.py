"""MLIP backends: the built-in Behler–Parrinello committee."""

from hyperal.models.bpnn import BPNN, BPNNCalculator, FitResult, reference_labels
from hyperal.models.descriptors import BPDescriptor

__all__ = ["BPDescriptor", "BPNN", "BPNNCalculator", "FitResult", "reference_labels"]
