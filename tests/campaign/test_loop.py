"""The campaign end to end on a tiny system, its store, resume, executors, CLI."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from ase.io import read
from typer.testing import CliRunner

from hyperal.campaign import Campaign, parse_config
from hyperal.cli.main import app
from hyperal.labels import reference
from hyperal.models.checkpoint import read_manifest
from hyperal.runs import StageKind, Store
from hyperal.runs.evaluate import Labelled, summarise
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus, Split, Stage
from hyperal.runs.tasks import predict
from hyperal.testing import browser, render_in_browser
from tests.campaign.conftest import tiny
from tests.helpers import assert_same_rows, store_rows


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    path = tmp_path_factory.mktemp("campaign")
    data = tiny(path)
    reports = []
    metrics = Campaign(parse_config(data), progress=reports.append).run()
    return data, metrics, reports, path


def test_tiny_campaign_runs_every_loop(finished):
    data, metrics, reports, _ = finished
    assert [m.loop for m in metrics] == [0, 1, 2]
    assert metrics[0].errors("gentle").count > 0 and "difficult" not in metrics[0].tests
    for m in metrics[1:]:
        assert m.errors("difficult").count > 0
        assert m.n_selected + m.n_skipped == 7 - 1  # 7 starts, 1 difficult
        assert sum(m.evolution.values()) == 6
    # more oracle calls and more training data every loop
    calls = [m.oracle_calls for m in metrics]
    assert calls == sorted(calls) and calls[0] < calls[-1]
    assert metrics[-1].n_train > metrics[0].n_train
    kinds = {r.kind for r in reports}
    assert {StageKind.INITIAL, StageKind.LABEL, StageKind.EVOLVE} <= kinds
    assert {StageKind.FITTED, StageKind.EVALUATED} <= kinds
    assert any(r.kind is StageKind.EVOLVE and r.message == "advb_md" for r in reports)


def test_errors_are_physical_and_recomputable_from_the_checkpoint(finished):
    data, metrics, *_ = finished
    store = Store(data["store"])
    last = metrics[-1]
    gentle = store.labelled(split="gentle", max_loop=2)
    refs = [reference(a) for a in gentle]
    rms_force = 1e3 * np.sqrt(
        np.mean(np.concatenate([r.forces.ravel() for r in refs]) ** 2)
    )
    # the committee learned something: errors below what predicting zero gives
    assert 0 < last.errors("gentle").force_rmse_meV_A < rms_force
    # the stored figures are those of the stored checkpoint
    predictions = predict(str(store.checkpoint_path(2)), gentle)
    again = summarise(
        [
            Labelled(r.energy, r.forces, a.info["source"])
            for r, a in zip(refs, gentle, strict=True)
        ],
        predictions,
        seed=2,
    )
    assert again == last.tests["gentle"]


def test_fits_are_warm_started_after_loop_0(finished):
    data, metrics, *_ = finished
    assert not metrics[0].fit.warm_started
    assert all(m.fit.warm_started for m in metrics[1:])
    epochs = data["committee"]["epochs"]
    assert metrics[0].fit.epochs <= epochs and metrics[1].fit.epochs <= epochs // 3
    assert all(m.fit.backend == "bpnn" and m.fit.wall_s > 0 for m in metrics)


def test_difficult_structures_never_train(finished):
    data, *_ = finished
    store = Store(data["store"])
    difficult = store.rows(Where(split=Split.DIFFICULT))
    assert difficult and all(r.stage == "start" for r in difficult)
    train = store.labelled(split="train")
    train_positions = {a.positions.round(6).tobytes() for a in train}
    assert not any(r.positions.round(6).tobytes() in train_positions for r in difficult)
    # the committee saw exactly the training rows: the fit's own record of them
    manifest = read_manifest(store.checkpoint_path(2))
    assert manifest.extra["training_names"] == [a.info["name"] for a in train]
    assert not {r.name for r in difficult} & set(manifest.extra["training_names"])
    names = [r.name for r in store.rows()]
    assert len(names) == len(set(names))  # every structure once


def test_rerun_of_a_finished_campaign_does_nothing(finished):
    data, metrics, *_ = finished
    store = Store(data["store"])
    before = store.count()
    again = Campaign(parse_config(data)).run()
    assert store.count() == before
    assert again == metrics


def test_selected_frames_carry_their_uncertainty(finished):
    data, *_ = finished
    store = Store(data["store"])
    for row in store.rows(Where(stage=Stage.SELECTED)):
        assert row.run == "main" and row.start_index >= 0
        if row.oracle_status == "skipped":
            assert "no frame selected" in row.oracle_reason
        else:
            assert row.split == "train" and row.uncertainty > 0
            assert row.scheme == "advb_md"


def test_flaky_oracle_failures_are_recorded_and_skipped(tmp_path):
    data = tiny(
        tmp_path,
        oracle={"name": "hyperal.testing:FlakyEMT", "kwargs": {"every": 2}},
        loops=1,
    )
    metrics = Campaign(parse_config(data)).run()
    store = Store(data["store"])
    failed = store.rows(Where(status=OracleStatus.FAILED))
    assert failed and metrics[-1].oracle_failures == len(failed)
    for row in failed:
        assert row.oracle_reason
        assert row.get("energy") is None  # no label stored
    names = {
        a.info["name"]
        for s in ("train", "gentle", "difficult")
        for a in store.labelled(split=s)
    }
    assert not names & {r.name for r in failed}
    # `hyperal status` lists the failures by reason, with their counts
    reasons = store.failure_reasons()
    assert sum(n for _, n in reasons) == len(failed)
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    status = CliRunner().invoke(app, ["status", str(config)], terminal_width=200)
    assert status.exit_code == 0 and "oracle failures by reason" in status.output
    assert reasons[0][0][:40] in status.output and str(reasons[0][1]) in status.output


def test_cli_status_report_export(finished, tmp_path):
    data, metrics, _, path = finished
    config = path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    status = runner.invoke(app, ["status", str(config)])
    assert status.exit_code == 0 and "hyperal campaign" in status.output
    gentle = f"{metrics[-1].errors('gentle').energy_rmse_meV_atom:.1f}"
    assert gentle in status.output
    html = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(config), "-o", str(html)])
    assert result.exit_code == 0, result.output
    text = html.read_text()
    figures = ("final-curves", "final-curves-calls", "loop-curves", "parity")
    figures += ("calibration", "calibration-curves", "composition", "sigma")
    figures += ("diversity-pca", "diversity-bonds", "diversity-motion")
    for name in figures:
        assert f"id='fig-{name}'" in text
    assert text.count("<svg") == len(figures) and gentle in text
    assert not re.search(r"(src|href)=['\"]?https?:", text)  # self-contained
    assert "advb_md" in text  # what was run: the scheme
    # σ's calibration on the final sets: one row per loop, set and quantity
    # that has a conformal factor; the rows of sets too small for one are
    # left out and counted in a note
    final = Store(data["store"]).final()
    found = final[-1].tests["difficult"].calibration
    assert set(found) == {"energy", "force", "force_atoms"}
    assert found["force"].aggregate == "max"
    assert found["force"].count == final[-1].sizes["difficult"]
    every = [c for f in final for e in f.tests.values() for c in e.calibration.values()]
    shown = [c for c in every if np.isfinite(c.factor)]
    left_out = len(every) - len(shown)
    assert text.count("force (max)") == sum(
        c.quantity == "force" and c.aggregate == "max" for c in shown
    )
    if np.isfinite(found["force"].factor):
        assert f"{found['force'].miscalibration_area:.3f}" in text
    assert (f"{left_out} row(s) left out" in text) == (left_out > 0)
    assert "<td>inf</td>" not in text  # no row that says nothing
    if browser() is not None:  # a real browser renders it without an error
        dom, console = render_in_browser(html)
        assert console == [] and dom.count("<figure") == len(figures)
    out = tmp_path / "train.extxyz"
    result = runner.invoke(app, ["export", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    images = read(out, index=":")
    assert len(images) == metrics[-1].n_train
    train = Store(data["store"]).labelled(split="train")
    assert images[0].info["REF_energy"] == pytest.approx(reference(train[0]).energy)
    np.testing.assert_allclose(  # extxyz keeps 8 significant digits
        images[0].arrays["REF_forces"], reference(train[0]).forces, atol=1e-7
    )


@pytest.mark.parametrize("kind", ["process", "dask"])
def test_local_workers_share_the_cores(kind):
    """Each worker of a local pool runs torch on its share of the cores (a
    worker per core here: one thread), not on every core — W workers with
    a thread per core each slowed committee evaluations several-fold."""
    import torch

    from hyperal.runs.executors import make_executor, threads_per_worker

    if kind == "dask":
        pytest.importorskip("dask.distributed")
    cores = threads_per_worker(1)
    assert threads_per_worker(2) == max(1, cores // 2)
    assert threads_per_worker(10**6) == 1
    with make_executor(kind, workers=2) as pool:
        found = {pool.submit(torch.get_num_threads).result() for _ in range(4)}
    assert found == {threads_per_worker(2)}


def test_a_fit_takes_every_core_and_gives_them_back():
    """A fit (the loop's serial part) runs torch on every core of its worker,
    then the worker returns to its share."""
    import torch

    from hyperal.runs.executors import all_cores, threads_per_worker

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # a worker's share
        with all_cores():
            assert torch.get_num_threads() == threads_per_worker(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("kind", ["process", "dask"])
def test_streaming_on_a_pool_gives_the_rows_of_the_strict_order(tmp_path, kind):
    """Labels streamed to a pool as each evolution lands (and the difficult
    ones while the committee fits) give the same rows and metrics as the
    strict order evolve all -> label all -> fit, in process."""
    if kind == "dask":
        pytest.importorskip("dask.distributed")
    data = tiny(tmp_path, loops=2, executor={"kind": kind, "workers": 2})
    reports = []
    campaign = Campaign(parse_config(data), progress=reports.append)
    metrics = campaign.run()
    # a fit on a worker reports its epochs through the file beside its
    # checkpoint (at least its last), removed once the fit has landed
    epochs = {r.loop for r in reports if r.kind is StageKind.FIT and r.done > 0}
    assert epochs == {m.loop for m in metrics}
    assert not list(Store(data["store"]).checkpoints.rglob("*.epoch"))
    # every task on the pool was timed where it ran (the utilisation's data)
    tasks = {span.task for span in campaign.spans}
    assert {"label_structure", "evolve_and_select", "fit_committee"} <= tasks
    assert all(span.end >= span.start for span in campaign.spans)
    # each loop records how the pool's two workers spent it, from the spans
    # (tasks after the last loop, the final evaluation's, are in none)
    pools = [m.pool_time for m in metrics]
    assert all(p is not None and p.workers == 2 for p in pools)
    assert all(p.counted == "configured" and 0 < p.utilisation <= 1 for p in pools)
    assert {"label_structure", "evolve_and_select", "fit_committee"} <= set(
        pools[1].busy_s
    )
    assert (
        sum(sum(p.busy_s.values()) for p in pools)
        <= sum(span.end - span.start for span in campaign.spans) + 1e-6
    )
    config = tmp_path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    status = CliRunner().invoke(app, ["status", str(config)], terminal_width=250)
    assert "pool workers' time per loop" in status.output
    table = status.output.split("pool workers' time per loop")[1]
    assert f"{100 * pools[1].utilisation:.0f} %" in table
    if kind == "process":  # the report shows the same table
        from hyperal.report import write_report

        page = write_report(Store(data["store"]), tmp_path / "r.html").read_text()
        shown = page.split("Pool workers' time per loop")[1]
        assert f"<td>{100 * pools[1].utilisation:.0f} %</td>" in shown
    (tmp_path / "ref").mkdir()
    strict = tiny(
        tmp_path / "ref",
        loops=2,
        executor={"kind": "inprocess", "background_labels": False},
    )
    reference_metrics = Campaign(parse_config(strict)).run()
    assert all(m.pool_time is None for m in reference_metrics)  # in process
    rows, reference_rows = store_rows(data["store"]), store_rows(strict["store"])
    assert_same_rows(rows, reference_rows)
    assert [m.oracle_calls for m in metrics] == [
        m.oracle_calls for m in reference_metrics
    ]
    # the fits (on a worker) read the labels by name: the same committees
    for m, r in zip(metrics, reference_metrics, strict=True):
        assert m.n_train == r.n_train
        for split in ("gentle", "difficult"):
            if split not in r.tests:
                continue
            assert m.errors(split).energy_rmse_meV_atom == pytest.approx(
                r.errors(split).energy_rmse_meV_atom, rel=1e-5
            )


def _exported(data: dict, folder, out) -> tuple[list, list]:
    """``hyperal export`` of the campaign ``data`` (its file written into
    ``folder``) to ``out``: the exported structures and the stored training
    structures."""
    config = folder / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["export", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return read(out, index=":"), Store(data["store"]).labelled(split="train")


def test_stress_labels_when_asked(tmp_path):
    data = tiny(tmp_path, loops=1, oracle={"name": "emt", "stress": True})
    Campaign(parse_config(data)).run()
    labelled = Store(data["store"]).labelled(split=["train", "gentle", "difficult"])
    assert {a.info["stage"] for a in labelled} == {"initial", "start", "selected"}
    for atoms in labelled:
        assert atoms.calc.results["stress"].shape == (6,)
    # the stored stress is EMT's, and export writes it as REF_stress
    from ase.calculators.emt import EMT

    images, train = _exported(data, tmp_path, tmp_path / "train.extxyz")
    assert len(images) == len(train) > 0
    for image, stored in zip(images, train, strict=True):
        fresh = stored.copy()
        fresh.calc = EMT()
        np.testing.assert_allclose(
            stored.calc.results["stress"], fresh.get_stress(), atol=1e-9
        )
        np.testing.assert_allclose(
            np.ravel(image.info["REF_stress"]), fresh.get_stress(), atol=1e-7
        )


def test_status_figures_equal_a_recount_from_the_store(finished, tmp_path):
    """Every loop's oracle calls and training size recounted from the store's
    rows; the status table prints exactly those rows."""
    from hyperal.report import summary_rows

    data, metrics, _, path = finished
    store = Store(data["store"])
    rows = store.rows()
    for m in metrics:
        mine = [r for r in rows if r.get("run") == "main" and r.loop <= m.loop]
        paid = [
            r
            for r in mine
            if r.get("oracle_status") in ("ok", "failed") and not r.get("cached")
        ]
        assert m.oracle_calls == len(paid) > 0
        train = [
            r for r in mine if r.get("split") == "train" and r.oracle_status == "ok"
        ]
        assert m.n_train == len(train)
    config = path / "campaign.yaml"
    config.write_text(yaml.safe_dump(data))
    status = CliRunner().invoke(app, ["status", str(config)], terminal_width=250)
    lines = status.output.splitlines()
    for row in summary_rows(metrics):
        # the figures (rich may wrap the longer text cells over lines)
        cells = [c for c in row if c and " " not in c]
        assert len(cells) >= 5
        assert any(all(f" {c} " in f" {line} " for c in cells) for line in lines), cells


def test_export_round_trips_every_label(finished, tmp_path):
    """All training structures, in the fit's order, with their stored labels
    — which are the oracle's own (recomputed here with EMT)."""
    from ase.calculators.emt import EMT

    data, metrics, _, path = finished
    images, train = _exported(data, path, tmp_path / "all.extxyz")
    manifest = read_manifest(Store(data["store"]).checkpoint_path(2))
    assert [a.info["name"] for a in images] == manifest.extra["training_names"]
    assert len(images) == len(train) == metrics[-1].n_train
    for image, stored in zip(images, train, strict=True):
        label = reference(stored)
        np.testing.assert_allclose(image.positions, stored.positions, atol=1e-7)
        assert image.info["REF_energy"] == pytest.approx(label.energy, rel=1e-8)
        np.testing.assert_allclose(image.arrays["REF_forces"], label.forces, atol=1e-7)
        fresh = stored.copy()
        fresh.calc = EMT()
        assert label.energy == pytest.approx(fresh.get_potential_energy(), abs=1e-9)
        np.testing.assert_allclose(label.forces, fresh.get_forces(), atol=1e-9)


class _Capture:
    """A report page that keeps the figures instead of drawing them."""

    def __init__(self):
        self.figures = {}

    def figure(self, fig, caption, name):
        self.figures[name] = fig
        return ""


def test_report_figures_draw_every_force_and_count_loops_in_whole_numbers(finished):
    from hyperal.report.figures import curves_figure, parity_figure

    data, metrics, _, _ = finished
    store = Store(data["store"])
    finals = store.final()
    page = _Capture()
    parity_figure(page, finals)
    fig = page.figures["parity"]
    bottom = [ax for ax in fig.axes if ax.get_xlabel().startswith("oracle F")]
    assert len(bottom) == len(finals)
    for ax, final in zip(bottom, finals, strict=True):  # no component clipped
        largest = max(
            np.max(np.abs([*e.parity.force_ref, *e.parity.force_pred]))
            for e in final.tests.values()
        )
        assert ax.get_xlim()[1] >= largest and ax.get_ylim()[1] >= largest
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "force components per hexagon"]
    assert len(bars) == 1  # one colour scale, shared by the loops
    assert len({c.get_clim() for ax in bottom for c in ax.collections}) == 1
    curves_figure(page, metrics, [m.loop for m in metrics], "loop", "", "curves")
    fig = page.figures["curves"]
    for ax in fig.axes:
        ticks = [
            t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]
        ]
        assert ticks and all(float(t).is_integer() for t in ticks)
    labels = fig.legends[0].get_texts()
    lines = [
        line for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")
    ]
    assert len(labels) == len(lines)  # every legend entry is a line of its own
    drawn = [tuple(map(tuple, line.get_xydata())) for line in lines]
    for split in ("gentle", "difficult"):  # none hidden under another
        mine = [
            d
            for d, line in zip(drawn, lines, strict=True)
            if line.get_label().startswith(split)
        ]
        assert len(mine) == len(set(mine))


def test_untimed_loop_0_labels_are_counted_and_noted_only_when_present(
    finished, tmp_path
):
    import shutil

    from hyperal.report import write_report

    data, _, _, _ = finished
    copy = tmp_path / "old.db"
    shutil.copy(data["store"], copy)
    shutil.copytree(data["store"] + ".checkpoints", tmp_path / "old.db.checkpoints")
    store = Store(str(copy))
    assert store.untimed_labels() == 0
    assert store.oracle_seconds() > 0
    write_report(store, tmp_path / "new.html")
    assert "did not time loop 0" not in (tmp_path / "new.html").read_text()
    initial = store.rows(Where(stage=Stage.INITIAL, status=OracleStatus.OK, run="main"))
    with store.db:  # as a hyperal that did not time loop 0 wrote them
        for row in initial:
            store.db.update(row.id, delete_keys=["oracle_seconds"])
    assert store.untimed_labels() == len(initial) > 0
    write_report(store, tmp_path / "old.html")
    text = (tmp_path / "old.html").read_text()
    assert (
        f"{len(initial)} labels of an older hyperal, which did not time loop 0" in text
    )


def test_the_plan_counts_the_calls_the_run_paid(finished):
    """`hyperal plan` before the run against the calls the run paid: loop by
    loop never more than planned; the exact stages (the difficult starts)
    exactly; every planned task a task of the run (a relaxation per initial
    start, at most its steps + 1 calls; a selection per evolved start)."""
    from hyperal.campaign.plan import campaign_plan

    data, metrics, _, _ = finished
    cfg = parse_config(data)
    plan = campaign_plan(cfg)
    store = Store(cfg.store)
    paid = {
        loop: store.oracle_calls(Where(run="main", loop=loop))
        for loop in range(cfg.loops + 1)
    }
    planned = plan.loop_calls()
    assert set(planned) == set(paid) == {0, 1, 2}
    assert all(paid[k] <= planned[k] for k in paid), (paid, planned)
    assert sum(paid.values()) == metrics[-1].oracle_calls
    by_stage = {(s.loop, s.what.split(" (")[0]): s for s in plan.stages}
    steps = cfg.initial.relax_steps + 1
    relaxed = store.rows(Where(loop=0, run="main", stage=Stage.INITIAL))
    starts = {row.start_index for row in relaxed}
    relaxations = [
        s for s in plan.stages if s.loop == 0 and s.what.startswith("oracle relax")
    ]
    assert len(starts) == sum(s.tasks for s in relaxations) == cfg.initial.structures
    per_start = [sum(r.start_index == i for r in relaxed) for i in starts]
    assert all(0 < n <= steps for n in per_start)
    for loop in (1, 2):
        difficult = store.rows(
            Where(loop=loop, run="main", split=Split.DIFFICULT, status=OracleStatus.OK)
        )
        stage = by_stage[loop, "difficult set"]
        assert stage.exact and len(difficult) == stage.total_calls > 0
        selected = store.rows(Where(loop=loop, run="main", stage=Stage.SELECTED))
        assert len(selected) == by_stage[loop, "selected frames"].tasks
        # the sizes the plan gave are the labelled structures' own
        assert sorted(len(row.toatoms()) for row in difficult) == sorted(stage.atoms)


def test_fits_report_their_epochs_and_loops_their_wall_time(finished):
    """A fit is no silence: its epochs reach the progress (in process, from
    the fit itself) with the validation loss; every loop's wall time is
    kept and adds up to the campaign's."""
    from hyperal.report import wall_line

    _, metrics, reports, _ = finished
    epochs = [r for r in reports if r.kind is StageKind.FIT and r.done > 0]
    assert epochs, "no epoch reported"
    for loop in {r.loop for r in epochs}:
        mine = [r.done for r in epochs if r.loop == loop]
        assert mine == sorted(mine) and len(set(mine)) == len(mine)
    assert all(r.detail.startswith("validation loss ") for r in epochs)
    assert {r.loop for r in epochs} == {m.loop for m in metrics}
    assert all(m.wall_s is not None and m.wall_s > 0 for m in metrics)
    assert "over 3 loop(s)" in wall_line(metrics)


def test_plan_command_prices_the_file_and_reads_what_the_store_paid(finished):
    from hyperal.campaign.plan import campaign_plan

    data, metrics, _, path = finished
    config = path / "campaign-plan.yaml"
    config.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(
        app, ["plan", str(config), "--seconds-per-call", "60", "--cores-per-call", "4"]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    total = campaign_plan(parse_config(data)).total_calls
    assert f"total: ≤ {total} oracle calls; executor: in process" in text
    # 60 s a call, one at a time: oracle time = wall time; 4 cores a call
    assert f"{total * 60 * 4 / 3600:.1f} core-hours at 4 core(s) per call" in text
    assert f"{metrics[-1].oracle_calls} oracle calls paid" in text
    both = CliRunner().invoke(
        app,
        ["plan", str(config), "--seconds-per-call", "1", "--seconds-per-atom", "1"],
    )
    assert both.exit_code == 2
    assert "not both" in both.output and both.output.startswith("error: ")


def test_parity_axes_hold_every_point_and_colours_keep_their_meaning(finished):
    """The report's parity figure: every energy point inside its axes (each
    test set on its own), every force hexagon drawn whole inside the frame;
    a structure type has one colour in the parity and the learning curves."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PathCollection, PolyCollection

    from hyperal.report.figures import curves_figure, parity_figure
    from hyperal.report.page import type_colour

    class Keep:
        def figure(self, fig, caption, name):
            self.fig = fig
            return ""

    data, metrics, _, _ = finished
    finals = Store(data["store"]).final()
    page = Keep()
    parity_figure(page, finals)
    colours = {}
    for ax in page.fig.axes:
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        for c in ax.collections:
            points = np.asarray(c.get_offsets())
            if isinstance(c, PolyCollection):  # the force hexagons
                # a hexagon's centre plus its half width stays inside
                corners = np.asarray(c.get_paths()[0].vertices)
                half = np.abs(corners).max(axis=0)
                assert (points[:, 0] - half[0] >= x0).all()
                assert (points[:, 0] + half[0] <= x1).all()
                assert (points[:, 1] - half[1] >= y0).all()
                assert (points[:, 1] + half[1] <= y1).all()
            elif isinstance(c, PathCollection):  # the energies per structure
                assert (points[:, 0] >= x0).all() and (points[:, 0] <= x1).all()
                assert (points[:, 1] >= y0).all() and (points[:, 1] <= y1).all()
                label = c.get_label().split(": ")[-1]
                colours.setdefault(label, set()).add(
                    matplotlib.colors.to_hex(c.get_facecolor()[0])
                )
    assert colours and all(found == {type_colour(t)} for t, found in colours.items()), (
        colours
    )
    curves_figure(page, finals, [f.loop for f in finals], "loop", "", "c")
    for line in page.fig.axes[0].get_lines():
        t = line.get_label().split(": ")[-1].split(" = ")[0]
        assert matplotlib.colors.to_hex(line.get_color()) == type_colour(t)
