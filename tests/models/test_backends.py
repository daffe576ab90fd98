"""The model-backend protocol: conformance of every registered backend,
checkpoints, warm starts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hyperal.models import BACKENDS, get_backend
from hyperal.models.checkpoint import (
    MANIFEST,
    load_checkpoint,
    read_manifest,
    write_checkpoint,
)
from hyperal.testing import check_backend, emt_cells

TINY_BPNN = {
    "n_members": 3,
    "hidden": [8],
    "cutoff_A": 4.0,
    "dtype": "float64",
    "fit": {"epochs": 60},
}
TINY_MACE = {
    "n_members": 2,
    "r_max_A": 4.0,
    "num_channels": 8,
    "fit": {"max_num_epochs": 15, "batch_size": 4},
}
CHECKS = [
    "fit",
    "not mutated",
    "keys",
    "gradients",
    "invariance",
    "features",
    "checkpoint",
    "seed",
    "warm start",
    "elements",
    "bias",
    "process state",
]


def test_registry_names_every_backend():
    assert set(BACKENDS) == {"bpnn", "mace"}
    with pytest.raises(ValueError, match="unknown backend 'x'; allowed: bpnn, mace"):
        get_backend("x")


def test_bpnn_passes_the_conformance_check():
    passed = check_backend(
        "bpnn", TINY_BPNN, warm_options={"epochs": 3, "warm_epochs": 3}
    )
    assert passed == CHECKS


def test_bpnn_passes_the_conformance_check_on_its_defaults():
    """What a user checking the documented entry point sees: the default
    options (float32) pass, the tolerances following the precision."""
    assert check_backend("bpnn") == CHECKS


@pytest.mark.slow
def test_mace_passes_the_conformance_check_on_its_defaults():
    pytest.importorskip("mace")
    assert check_backend("mace") == CHECKS


@pytest.mark.slow
def test_mace_passes_the_conformance_check():
    pytest.importorskip("mace")
    passed = check_backend(
        "mace", TINY_MACE, warm_options={"max_num_epochs": 2, "warm_epochs": 2}
    )
    assert passed == CHECKS


@pytest.mark.parametrize(
    "options, only",
    [(TINY_BPNN, None), (None, ["gradients"])],
    ids=["float64", "float32 defaults"],
)
def test_check_backend_catches_a_wrong_gradient(monkeypatch, options, only):
    """A ∇σ_U 1 % off fails the check — also in float32, whose rounding the
    tolerances allow for."""
    from hyperal.models.bpnn.calculator import BPNNCalculator

    original = BPNNCalculator.calculate

    def broken(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.results["energy_uncertainty_gradient"] = (
            self.results["energy_uncertainty_gradient"] * 1.01
        )

    monkeypatch.setattr(BPNNCalculator, "calculate", broken)
    with pytest.raises(AssertionError, match="gradients: ∇σ_U"):
        check_backend("bpnn", options, only=only)


def test_check_backend_catches_a_missing_key(monkeypatch):
    from hyperal.models.bpnn.calculator import BPNNCalculator

    original = BPNNCalculator.calculate

    def broken(self, *args, **kwargs):
        original(self, *args, **kwargs)
        del self.results["energy_uncertainty"]

    monkeypatch.setattr(BPNNCalculator, "calculate", broken)
    with pytest.raises(AssertionError, match="keys: energy_uncertainty missing"):
        check_backend("bpnn", TINY_BPNN)


@pytest.fixture(scope="module")
def fitted():
    backend = get_backend("bpnn")
    options = backend.parse_options(TINY_BPNN)
    model = backend.build(("Cu", "Ni"), options, seed=0)
    report = model.fit(emt_cells(10), options.fit, seed=0)
    return model, options, report


def test_checkpoint_is_a_directory_with_a_manifest(fitted, tmp_path):
    model, options, report = fitted
    path = write_checkpoint(
        model, tmp_path / "c", options=options, seed=0, report=report, extra={"a": 1}
    )
    assert not (tmp_path / "c.tmp").exists()
    manifest = read_manifest(path)
    assert manifest.backend == "bpnn" and manifest.elements == ("Cu", "Ni")
    assert manifest.n_members == 3 and manifest.fit == report
    assert manifest.options == options.model_dump(mode="json")
    assert manifest.extra == {"a": 1} and set(manifest.files) == {"bpnn.pt"}
    frames = emt_cells(2, seed=5)
    loaded = load_checkpoint(path)
    for atoms in frames:
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = model.calculator(), loaded.calculator()
        assert a.get_potential_energy() == b.get_potential_energy()
    # a changed file is refused, not silently loaded
    (path / "bpnn.pt").write_bytes((path / "bpnn.pt").read_bytes() + b"x")
    with pytest.raises(ValueError, match="bpnn.pt is missing or changed"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="not a hyperal checkpoint"):
        read_manifest(tmp_path)
    data = json.loads((path / MANIFEST).read_text())
    (path / MANIFEST).write_text(json.dumps(dict(data, format=99)))
    with pytest.raises(ValueError, match="format 99"):
        read_manifest(path)


def test_warm_start_keeps_the_function_while_refitting_statistics(fitted):
    """A warm fit refits the standardisation to new data; with a vanishing
    learning rate its predictions must stay those of the start."""
    model, options, _ = fitted
    backend = get_backend("bpnn")
    other = emt_cells(10, seed=7, rattle_A=0.3)  # other statistics
    frozen = options.fit.model_copy(
        update={"warm_epochs": 1, "warm_learning_rate": 1e-30, "patience": 1}
    )
    warm = backend.build(("Cu", "Ni"), options, seed=3)
    report = warm.fit(other, frozen, init=model, seed=3)
    assert report.warm_started
    assert not np.allclose(
        warm.model.feature_mean.numpy(), model.model.feature_mean.numpy()
    )
    for atoms in other[:3]:
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = model.calculator(), warm.calculator()
        assert a.get_potential_energy() == pytest.approx(
            b.get_potential_energy(), abs=1e-8
        )
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-8)


def test_warm_start_refuses_another_architecture(fitted):
    model, options, _ = fitted
    backend = get_backend("bpnn")
    wider = backend.parse_options(dict(TINY_BPNN, hidden=[9]))
    other = backend.build(("Cu", "Ni"), wider, seed=0)
    with pytest.raises(ValueError, match="another architecture"):
        other.fit(emt_cells(4), wider.fit, init=model)


def test_importing_hyperal_never_imports_mace():
    import subprocess
    import sys

    code = (
        "import sys, hyperal, hyperal.models, hyperal.campaign, hyperal.testing;"
        "print(any(m == 'mace' or m.startswith('mace.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_the_checks_run_one_by_one_by_name(monkeypatch):
    """A backend author runs the named checks alone: on one fitted
    committee, in any order; check_backend(only=...) runs a chosen few and
    refuses an unknown name."""
    from hyperal.testing import CHECKS as NAMED
    from hyperal.testing import backend_under_test

    assert [*NAMED, "process state"] == CHECKS
    with backend_under_test("bpnn", TINY_BPNN) as b:
        for name in ("keys", "elements", "checkpoint", "features"):
            NAMED[name](b)
        assert (b.root / "ckpt").is_dir()  # the checkpoint check wrote it
        b.results["forces"] = b.results["forces"] * 1.01
        with pytest.raises(
            AssertionError, match="keys: forces are not the member mean"
        ):
            NAMED["keys"](b)
    assert check_backend("bpnn", TINY_BPNN, only=["keys", "features"]) == [
        "keys",
        "features",
        "process state",
    ]
    with pytest.raises(ValueError, match="unknown check"):
        check_backend("bpnn", TINY_BPNN, only=["key"])
