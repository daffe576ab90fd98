"""File-based oracles: every call in a folder of its own (never shared by
calls running side by side), convergence read the way the calculator
reports it, failed calls' folders kept with their reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.io import read

from hyperal.oracle import FAILURE_FILE, Oracle, label_structure, unconverged
from hyperal.runs.executors import make_executor
from hyperal.runs.flow import completed
from hyperal.runs.sections import OracleConfig
from tests.helpers import rattled_cuni

FILE_EMT = "hyperal.testing:FileEMT"


def _emt(atoms):
    probe = atoms.copy()
    probe.calc = EMT()
    return probe.get_potential_energy(), probe.get_forces()


def test_concurrent_calls_never_share_a_folder(tmp_path):
    """8 structures labelled by a file-based calculator on 4 process workers
    at once (each call writes its input, waits, reads it back): every label
    is its own structure's, and every call had a folder of its own."""
    oracle = Oracle(
        FILE_EMT,
        {"pause": 0.4},
        workdir=str(tmp_path / "calls"),
        keep_workdirs="all",
    )
    structures = [rattled_cuni(seed=k) for k in range(8)]
    with make_executor("process", workers=4) as executor:
        labels = dict(
            completed(
                executor,
                ((k, label_structure, (oracle, a)) for k, a in enumerate(structures)),
            )
        )
    folders = {labels[k].directory for k in labels}
    assert len(folders) == 8 and "" not in folders
    for k, atoms in enumerate(structures):
        label = labels[k]
        assert label.ok, label.reason
        energy, forces = _emt(atoms)
        assert label.energy == pytest.approx(energy, abs=1e-6)
        np.testing.assert_allclose(label.forces, forces, atol=1e-6)
        written = read(Path(label.directory) / "input.xyz")
        np.testing.assert_allclose(written.positions, atoms.positions, atol=1e-6)
        assert Path(label.directory).parent == tmp_path / "calls"


def test_an_unconverged_file_based_label_fails_and_keeps_its_folder(tmp_path):
    """VASP's way: good-looking numbers, ``converged = False`` on the
    calculator, nothing in ``results`` — stored as failed, folder kept."""
    oracle = Oracle(FILE_EMT, {"unconverged_every": 1}, workdir=str(tmp_path / "calls"))
    label = oracle.label(rattled_cuni(seed=3))
    assert not label.ok
    assert "converged = False" in label.reason
    # the reason stays the reason (failures group by it); the folder is kept
    assert label.directory and label.directory not in label.reason
    folder = Path(label.directory)
    assert (folder / "output.txt").exists()
    assert "converged" in (folder / FAILURE_FILE).read_text()


@pytest.mark.parametrize(
    "keep, kept_ok, kept_failed", [("failed", 0, 1), ("all", 1, 1), ("none", 0, 0)]
)
def test_which_folders_stay(tmp_path, keep, kept_ok, kept_failed):
    root = tmp_path / keep
    good = Oracle(FILE_EMT, workdir=str(root), keep_workdirs=keep)
    bad = Oracle(
        FILE_EMT, {"unconverged_every": 1}, workdir=str(root), keep_workdirs=keep
    )
    ok = good.label(rattled_cuni(seed=1))
    failed = bad.label(rattled_cuni(seed=2))
    assert ok.ok and not failed.ok
    # which folders, not only how many: a failed call's folder says why
    kept = list(root.iterdir())
    kept_failures = [d for d in kept if (d / FAILURE_FILE).exists()]
    assert len(kept_failures) == kept_failed
    assert len(kept) - len(kept_failures) == kept_ok
    # a label names its folder exactly when the folder stays
    assert bool(ok.directory) == bool(kept_ok)
    assert bool(failed.directory) == bool(kept_failed)
    for label in (ok, failed):
        if label.directory:
            assert Path(label.directory) in kept


def test_retries_get_a_new_folder_each(tmp_path):
    oracle = Oracle(
        FILE_EMT,
        {"unconverged_every": 1},
        workdir=str(tmp_path),
        retries=2,
    )
    label = oracle.label(rattled_cuni(seed=4))
    assert label.attempts == 3
    assert len(list(tmp_path.iterdir())) == 3


class _Espresso(EMT):
    """Named like ASE's Quantum ESPRESSO calculator, reading nothing."""

    def __init__(self, directory: str, text: str):
        super().__init__()
        self.directory = directory
        Path(directory, "espresso.pwo").write_text(text)


_Espresso.__name__ = "Espresso"


def test_convergence_as_each_calculator_reports_it(tmp_path):
    calc = EMT()
    assert unconverged(calc) == ""
    calc.results["converged"] = False
    assert unconverged(calc) == "the calculator reports no convergence"
    calc = EMT()
    calc.converged = np.bool_(False)
    assert "converged = False" in unconverged(calc)
    calc.converged = None  # VASP before it read OUTCAR: not a verdict
    assert unconverged(calc) == ""
    stopped = _Espresso(str(tmp_path), " convergence NOT achieved after 100 iterations")
    assert "did not converge" in unconverged(stopped)
    fine = _Espresso(str(tmp_path), "  convergence has been achieved in 12 iterations")
    assert unconverged(fine) == ""


def make_with_directory(directory=".", seen=None):
    """A factory naming ``directory``: it is given the call's folder."""
    calc = EMT()
    Path(directory, "made-here").write_text("")
    return calc


def test_a_factory_taking_directory_gets_the_calls_folder(tmp_path):
    oracle = Oracle(
        "tests.reliability.test_file_oracles:make_with_directory",
        workdir=str(tmp_path),
        keep_workdirs="all",
    )
    label = oracle.label(rattled_cuni(seed=5))
    assert label.ok
    assert (Path(label.directory) / "made-here").exists()


def test_campaign_oracle_folders_default_beside_the_store(tmp_path):
    config = OracleConfig(name="emt")
    assert config.build(tmp_path / "run.db").workdir == str(tmp_path / "run.calls")
    assert config.build("postgresql://host/db").workdir == "hyperal.calls"
    assert OracleConfig(name="emt", workdir="/scratch/x").build("a.db").workdir == (
        "/scratch/x"
    )
    with pytest.raises(ValueError, match="kwargs.directory"):
        OracleConfig(name="emt", kwargs={"directory": "x"})
    with pytest.raises(ValueError, match="keep_workdirs"):
        Oracle("emt", keep_workdirs="some")


def test_one_hanging_call_times_out_alone_on_a_process_pool(tmp_path):
    """2 process workers, 6 calls, one of which hangs past the time limit:
    that one fails as timed out, the others are labelled in time."""
    structures = [rattled_cuni(seed=k) for k in range(6)]
    oracle = Oracle(
        "hyperal.testing:SoakEMT",
        {
            "log": str(tmp_path / "log"),
            "store": str(tmp_path / "none.db"),
            "fail_share": 0.0,
            "nan_share": 0.0,
            "hang_share": 1.0,
            "hang_s": 30.0,
        },
        timeout_s=2.0,
    )
    fine = Oracle("emt", timeout_s=2.0)
    calls = [(0, label_structure, (oracle, structures[0]))] + [
        (k, label_structure, (fine, a)) for k, a in enumerate(structures) if k
    ]
    with make_executor("process", workers=2) as executor:
        labels = dict(completed(executor, calls))
    assert labels[0].status == "failed" and "timed out" in labels[0].reason
    assert labels[0].seconds < 10
    assert all(labels[k].ok for k in range(1, 6))
    assert all(labels[k].seconds < 2.0 for k in range(1, 6))
