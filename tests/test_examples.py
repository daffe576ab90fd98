"""Every example file validates with the loader its command uses (a
renamed key or a stale value in an example is a broken first run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperal.barriers.config import load_barrier_config
from hyperal.benchmark.config import load_benchmark
from hyperal.campaign.config import load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LOADERS = {
    "barriers-emt.yaml": load_barrier_config,
    "benchmark-emt.yaml": load_benchmark,
    "benchmark-emt-bias-sweep.yaml": load_benchmark,
    "campaign_demo.yaml": load_config,
    "campaign_full.yaml": load_config,
}


def test_every_example_file_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(LOADERS)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_example_file_validates(name, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)  # paths in the files are from the root
    before = set(Path(".").iterdir())
    LOADERS[name](EXAMPLES / name)
    assert set(Path(".").iterdir()) == before  # validating writes nothing
