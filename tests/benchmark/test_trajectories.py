"""`hyperal benchmark --trajectories` on a tiny system: every oracle call of
every trajectory stored and correct, the same starts and withheld starts for
every source, equal training frames, an error table recomputable by hand, a
resume that pays nothing twice, a page that renders."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.calculators.emt import EMT
from typer.testing import CliRunner

from hyperal.benchmark import load_benchmark
from hyperal.benchmark.trajectories import (
    MIXED,
    TrajectoryBenchmark,
    TrajectorySplit,
    TrajectoryStage,
    oracle_trajectory,
    spaced,
    trajectory_run,
    trajectory_starts,
    withheld_starts,
)
from hyperal.benchmark.trajectory_results import collect_trajectories
from hyperal.cli.main import app
from hyperal.labels import reference
from hyperal.models.checkpoint import read_manifest
from hyperal.oracle import Oracle
from hyperal.runs.query import Where
from hyperal.runs.records import Split
from hyperal.runs.settings import ConfigError
from hyperal.runs.store import Store
from hyperal.runs.tasks import predict
from hyperal.testing import browser, render_in_browser
from tests.campaign.conftest import TINY
from tests.helpers import emt_test_file

SOURCES = ["md", "ce", "dimer"]
STEPS = 5
BENCH = {
    "campaign": {
        **TINY,
        "counts": {"derived_metal": 4, "derived_oxide": 0, "random": 0},
        "committee": {"n_members": 2, "hidden": [8], "cutoff_A": 4.0, "epochs": 20},
    },
    "scheme_params": {"md": {"temperature_K": 800}, "ce": {"reference_steps": 5}},
    "replicates": 1,
    "trajectories": {
        "sources": SOURCES,
        "steps": STEPS,
        "withheld": 0.25,
        "frames": 12,
    },
}


class FailsAfter(EMT):
    """EMT that fails every call after its first ``calls`` (an oracle that
    breaks mid-trajectory); the calls are counted in the file ``log`` (the
    oracle makes a calculator per call)."""

    def __init__(self, calls: int, log: str, **kwargs):
        super().__init__(**kwargs)
        self.calls, self.log = calls, Path(log)

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        made = len(self.log.read_text()) if self.log.exists() else 0
        self.log.write_text("x" * (made + 1))
        if made >= self.calls:
            raise RuntimeError("the oracle broke")
        super().calculate(atoms, properties, system_changes)


def _write(folder, bench=BENCH):
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump({**bench, "store": str(folder / "bench.db")}))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trajectories")
    emt_test_file(folder / "test.extxyz", 2)  # a user's test set
    path = _write(folder, {**BENCH, "test_file": "test.extxyz"})
    out = folder / "results"
    result = CliRunner().invoke(
        app, ["benchmark", str(path), "--trajectories", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    bench, base = load_benchmark(path)
    return bench, base, Store(bench.store), out, result.output


def _rows(store, source, r=0):
    return store.rows(
        Where(stage=TrajectoryStage.TRAJECTORY, run=trajectory_run(r, source))
    )


def test_every_oracle_call_is_stored_with_its_true_label(finished):
    bench, base, store, *_ = finished
    starts = trajectory_starts(base, None)
    assert len(starts) == 4
    for source in SOURCES:
        rows = _rows(store, source)
        assert {row.start_index for row in rows} == set(range(4))
        for j in range(4):
            mine = sorted(
                (row for row in rows if row.start_index == j), key=lambda r: r.frame
            )
            # the same trajectory again, seeded alike: as many calls, in order
            again = oracle_trajectory(
                Oracle("emt"),
                source,
                bench.source_params(source),
                STEPS,
                starts[j].atoms,
                TrajectoryBenchmark.evolution_seed(base.seed, j),
            )
            assert [row.frame for row in mine] == list(range(len(again.calls)))
            steps = [row.step for row in mine if row.step >= 0]
            assert steps == sorted(steps) and steps[0] == 0
            if source == "md":  # one call per step, every step recorded
                assert steps == list(range(STEPS + 1)) and len(mine) == STEPS + 1
            for row in mine[:: max(1, len(mine) // 3)]:
                atoms = row.toatoms()
                ref = reference(atoms)
                atoms.calc = EMT()
                assert ref.energy == pytest.approx(atoms.get_potential_energy())
                np.testing.assert_allclose(ref.forces, atoms.get_forces(), atol=1e-9)
    # a dimer pays for rotation images between its steps, contour
    # exploration for its reference relaxation: kept, off the path
    for source in ("ce", "dimer"):
        assert any(row.step == -1 for row in _rows(store, source))
        assert all(
            row.split == Split.NONE for row in _rows(store, source) if row.step == -1
        )


def test_every_source_starts_from_the_same_structures_and_withholds_the_same(
    finished,
):
    _, base, store, *_ = finished
    starts = trajectory_starts(base, None)
    for source in SOURCES:
        for row in _rows(store, source):
            if row.frame != 0:
                continue
            given = starts[row.start_index].atoms.positions
            moved = np.linalg.norm(row.toatoms().positions - given, axis=1)
            if source == "dimer":  # its first step displaces the start (gauss)
                assert 0 < moved.max() < 0.6
            else:
                assert moved.max() == 0
        held = {
            row.start_index for row in _rows(store, source) if row.split == "withheld"
        }
        assert held == withheld_starts(0, 4, 0.25) and len(held) == 1


def test_each_committee_is_trained_on_as_many_training_frames(finished):
    bench, _, store, *_ = finished
    train_names = {
        row.name
        for source in SOURCES
        for row in _rows(store, source)
        if row.split == Split.TRAIN
    }
    counts = []
    for source in SOURCES:
        names = read_manifest(
            store.checkpoint_path(0, trajectory_run(0, source))
        ).extra["training_names"]
        assert set(names) <= train_names
        assert all(trajectory_run(0, source) in name for name in names)
        counts.append(len(names))
    assert counts == [12, 12, 12]
    results = collect_trajectories(store, bench)
    assert [s.fitted for s in results.summaries.values()] == [[12]] * 3
    # calls paid: every stored label, and for contour exploration one more
    # per trajectory (its start, labelled again after the reference relaxation)
    summaries = results.summaries
    assert summaries["md"].oracle_calls == len(_rows(store, "md"))
    assert summaries["ce"].oracle_calls > len(_rows(store, "ce"))


def test_the_error_table_is_the_committee_on_the_withheld_frames(finished):
    bench, _, store, *_ = finished
    results = collect_trajectories(store, bench)
    assert results.tests == [*SOURCES, MIXED, "test_file"]
    assert set(results.errors) == {(a, b) for a in SOURCES for b in results.tests}
    # the user's test file is one more frozen set, kept out of the mixed one
    assert results.errors["ce", "test_file"][0][1].count == 2
    # by hand: the md committee on the dimer's withheld frames
    frames = TrajectoryBenchmark.frames_of(store, 0, "dimer", TrajectorySplit.WITHHELD)
    assert frames and all(a.info["split"] == "withheld" for a in frames)
    preds = predict(str(store.checkpoint_path(0, trajectory_run(0, "md"))), frames)
    diff = np.concatenate(
        [p.forces - reference(a).forces for p, a in zip(preds, frames, strict=True)]
    )
    rmse = 1000 * np.sqrt(np.mean(diff**2))
    ((_, stored),) = results.errors["md", "dimer"]
    assert stored.force_rmse_meV_A == pytest.approx(rmse, rel=1e-6)
    mixed = sum(
        len(TrajectoryBenchmark.frames_of(store, 0, s, TrajectorySplit.WITHHELD))
        for s in SOURCES
    )
    assert results.errors["md", MIXED][0][1].count == mixed
    # paired: the ce committee's error over md's on the same set and replicate
    ratio, spread, n = results.paired("ce", "dimer", "force_rmse_meV_A")
    ((_, ce),) = results.errors["ce", "dimer"]
    assert n == 1 and math.isnan(spread)  # one replicate: no sample spread
    assert ratio == pytest.approx(ce.force_rmse_meV_A / stored.force_rmse_meV_A)


def test_the_summary_is_printed_and_written(finished):
    *_, out, output = finished
    for name in ("trajectories.html", "trajectories.csv", "trajectories.txt"):
        assert (out / name).is_file()
    assert "force RMSE (meV/Å)" in output and "trained on" in output
    rows = (out / "trajectories.csv").read_text().splitlines()
    assert len(rows) == 1 + len(SOURCES) * (len(SOURCES) + 2)


def test_the_page_renders_in_a_browser_with_every_figure(finished):
    if browser() is None:
        pytest.skip("no chromium/chrome on PATH (Debian: apt install chromium)")
    *_, out, _ = finished
    dom, console = render_in_browser(out / "trajectories.html")
    assert console == []
    assert not re.search(r"(src|href)=['\"]?https?:", dom)
    for name in (
        "trajectory-errors",
        "diversity-pca",
        "diversity-bonds",
        "diversity-motion",
    ):
        assert f'id="fig-{name}"' in dom
    assert "trained on" in dom and "mixed" in dom


def test_a_rerun_pays_nothing_and_a_lost_trajectory_is_run_again(finished, tmp_path):
    bench, base, store, *_ = finished
    import shutil

    shutil.copy(store.path, tmp_path / "copy.db")
    shutil.copytree(f"{store.path}.checkpoints", tmp_path / "copy.db.checkpoints")
    copy = bench.model_copy(update={"store": str(tmp_path / "copy.db")})
    saved = Store(copy.store)
    before = {
        row.name: row.id for row in saved.rows(Where(stage=TrajectoryStage.TRAJECTORY))
    }
    manifest = saved.checkpoint_path(0, trajectory_run(0, "ce")) / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    lost = [row.id for row in _rows(saved, "dimer") if row.start_index == 2]
    saved.db.delete(lost)  # killed before that trajectory was written
    TrajectoryBenchmark(copy, base).run()
    after = {
        row.name: row.id for row in saved.rows(Where(stage=TrajectoryStage.TRAJECTORY))
    }
    assert set(after) == set(before)
    again = [n for n in after if after[n] != before[n]]
    assert again and all(f"{trajectory_run(0, 'dimer')}:traj-2-" in n for n in again)
    assert manifest.stat().st_mtime_ns == stamp  # ce's committee not refitted


def test_an_oracle_that_breaks_mid_trajectory_keeps_the_labels_before(tmp_path):
    bench, base = load_benchmark(_write(tmp_path))
    start = trajectory_starts(base, 1)[0].atoms
    oracle = Oracle(
        "tests.benchmark.test_trajectories:FailsAfter",
        {"calls": 3, "log": str(tmp_path / "calls")},
    )
    got = oracle_trajectory(oracle, "md", {}, STEPS, start, 0)
    assert got.status == "failed" and "the oracle broke" in got.reason
    assert [label.ok for _, label, _ in got.calls] == [True, True, True, False]


def test_spacing_and_withheld_choice():
    assert spaced(list(range(10)), 4) == [0, 3, 6, 9]
    assert spaced([1, 2], 5) == [1, 2]
    assert withheld_starts(3, 10, 0.25) == withheld_starts(3, 10, 0.25)
    assert len(withheld_starts(3, 10, 0.25)) == 2  # round(2.5) = 2
    assert len(withheld_starts(3, 2, 0.9)) == 1  # one left to train on
    assert len(withheld_starts(3, 3, 0.01)) == 1  # at least one withheld


def test_mistakes_in_the_trajectories_section_are_named(tmp_path):
    bad = {
        **BENCH,
        "trajectories": {"sources": ["md", "advb_md", "md"], "starts": 1},
        "scheme_params": {"dimer": {"warp": 1}},
    }
    with pytest.raises(ConfigError) as error:
        load_benchmark(_write(tmp_path, bad))
    text = str(error.value)
    assert "trajectories.sources" in text and "'advb_md': not a plain scheme" in text
    assert "trajectories.starts" in text
    path = _write(tmp_path, {**BENCH, "scheme_params": {"dimer": {"warp": 1}}})
    result = CliRunner().invoke(app, ["benchmark", str(path), "--trajectories"])
    assert result.exit_code == 2 and "error:" in result.output
    assert "scheme_params.dimer (trajectories)" in result.output
    assert "warp" in result.output and "Traceback" not in result.output
