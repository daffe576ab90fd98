"""Shared fixtures: small EMT cells and committees of perturbed-EMT members."""

from __future__ import annotations

import pytest
from ase import Atoms

from hyperal.committee import emt_committee
from tests.helpers import rattled_cuni


@pytest.fixture
def cuni() -> Atoms:
    return rattled_cuni()


@pytest.fixture
def committee():
    """Four EMT members with independently perturbed Cu and Ni parameters."""
    return emt_committee(4, ["Cu", "Ni"], relative_std=0.03, rng=7)
