"""Every example file validates with the loader its command uses (a
renamed key or a stale value in an example is a broken first run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from hyperal.barriers.config import load_barrier_config
from hyperal.benchmark.config import load_benchmark
from hyperal.campaign.validate import load_config
from hyperal.runs.settings import ConfigError, load_with
from hyperal.testsets import parse_recipe

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LOADERS = {
    "barriers-emt.yaml": load_barrier_config,
    "benchmark-emt.yaml": load_benchmark,
    "benchmark-emt-bias-sweep.yaml": load_benchmark,
    "benchmark-emt-alpha.yaml": load_benchmark,
    "benchmark-emt-large.yaml": load_benchmark,
    "benchmark-emt-uncertainty.yaml": load_benchmark,
    "benchmark-nbtizr-o.yaml": load_benchmark,
    "campaign_demo.yaml": load_config,
    "campaign_full.yaml": load_config,
    "nbtizr-o.yaml": load_config,
    "nbtizr-o-barriers.yaml": load_barrier_config,
    "nbtizr-o-gpaw.yaml": load_config,
    "testset-emt.yaml": lambda path: load_with(path, parse_recipe),
    "testset-emt-confirm.yaml": lambda path: load_with(path, parse_recipe),
    "testset-emt-screen.yaml": lambda path: load_with(path, parse_recipe),
    "benchmark-emt-screen.yaml": load_benchmark,
    "benchmark-emt-confirm.yaml": load_benchmark,
}
#: Files whose oracle needs an optional package: without it, the one error
#: must be the missing package (everything else in the file validates).
NEEDS = {
    "nbtizr-o.yaml": "chgnet",
    "benchmark-nbtizr-o.yaml": "chgnet",
    "nbtizr-o-barriers.yaml": "chgnet",
    "nbtizr-o-gpaw.yaml": "gpaw",
}


def test_every_example_file_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(LOADERS)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_example_file_validates(name, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)  # paths in the files are from the root
    before = set(Path(".").iterdir())
    package = NEEDS.get(name)
    if package and importlib.util.find_spec(package) is None:
        with pytest.raises(ConfigError) as error:
            LOADERS[name](EXAMPLES / name)
        # its one problem, on one line naming the file and the key
        assert str(error.value).splitlines() == [
            f"{EXAMPLES / name}: oracle.name: the {package} oracle needs the "
            f"{package} package: pip install -c constraints.txt 'hyperal[{package}]'"
        ]
    else:
        LOADERS[name](EXAMPLES / name)
    assert set(Path(".").iterdir()) == before  # validating writes nothing


def test_the_slurm_coordinator_script_parses_and_runs_hyperal():
    """The coordinator job script of the executors guide: valid bash, one
    core, and it runs `hyperal run` on the file it is given."""
    import subprocess

    script = EXAMPLES / "slurm-coordinator.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "#SBATCH --cpus-per-task=1" in text
    assert 'exec "$hyperal" run "$campaign"' in text
    assert (
        "examples/slurm-coordinator.sh" in (EXAMPLES / "campaign_full.yaml").read_text()
    )
