"""Stage functions called alone, runs sharing a store, typed metrics and
stores written before runs existed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from ase import Atoms
from ase.db import connect

from hyperal.campaign import parse_config
from hyperal.campaign.stages import label_initial, write_starts
from hyperal.models.checkpoint import read_manifest
from hyperal.oracle import Oracle
from hyperal.runs import InProcessExecutor, StageContext, Store
from hyperal.runs.evaluate import Labelled, Prediction, summarise
from hyperal.runs.query import Row, Where
from hyperal.runs.records import Split, Stage
from hyperal.runs.stages import fit
from tests.campaign.conftest import tiny
from tests.helpers import rattled_cuni


def test_summarise_on_hand_made_numbers():
    f_ref = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    f_pred = np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 0.0]])  # 90° and 0°
    refs = [Labelled(-4.0, f_ref, "a"), Labelled(-2.0, f_ref, "b")]
    preds = [Prediction(-3.8, f_pred, 0.1), Prediction(-2.0, f_ref, 0.2)]
    errors = summarise(refs, preds)
    # energy errors 0.1 and 0 eV/atom over 2 atoms each
    assert errors.all.energy_rmse_meV_atom == pytest.approx(1e3 * np.sqrt(0.01 / 2))
    assert errors.all.energy_mae_meV_atom == pytest.approx(50.0)
    # force components: two of twelve off by 1 eV/Å
    assert errors.all.force_rmse_meV_A == pytest.approx(1e3 * np.sqrt(2 / 12))
    assert errors.all.angle_mae_deg == pytest.approx(90 / 4)
    assert errors.by_source["a"].angle_mae_deg == pytest.approx(45.0)
    assert errors.by_source["b"].force_rmse_meV_A == 0
    # robust figures: |ΔE| per atom 100 and 0 meV/atom; ten of twelve force
    # components exact, two off by 1000 meV/Å
    assert errors.all.energy_median_meV_atom == pytest.approx(50.0)
    assert errors.all.energy_p95_meV_atom == pytest.approx(95.0)
    assert errors.all.force_median_meV_A == 0.0
    assert errors.all.force_p95_meV_A == pytest.approx(1000.0)
    assert errors.parity.energy_ref == [-2.0, -1.0] and errors.parity.sigma == [
        0.1,
        0.2,
    ]
    assert sorted(errors.parity.force_ref) == sorted(
        np.concatenate([f_ref, f_ref]).ravel()
    )


@pytest.fixture
def context(tmp_path):
    config = parse_config(tiny(tmp_path, initial={"structures": 2, "relax_steps": 2}))
    return StageContext(
        config,
        Store(config.store),
        InProcessExecutor(),
        config.oracle.build(config.store),
    )


def test_stages_run_alone_resume_and_share_a_store_between_runs(context):
    assert label_initial(context) == 2
    assert label_initial(context) == 0  # everything stored: nothing to redo
    bench = context.with_run("bench")
    assert label_initial(bench) == 2  # another run, its own rows
    store = context.store
    main = store.rows(Where(stage=Stage.INITIAL, run="main"))
    other = store.rows(Where(stage=Stage.INITIAL, run="bench"))
    assert len(main) == len(other) and all(r.name.startswith("bench:") for r in other)
    # same settings and seed: the same labelled structures in both runs
    assert sorted(r.energy for r in main) == pytest.approx(
        sorted(r.energy for r in other)
    )
    path = fit(context, 0)
    stamp = (path / "manifest.json").stat().st_mtime_ns
    assert fit(context, 0) == path  # a finished fit is not repeated
    assert (path / "manifest.json").stat().st_mtime_ns == stamp
    trained = read_manifest(path).extra["training_names"]
    assert trained and not any(n.startswith("bench:") for n in trained)
    assert write_starts(context, 1) == 7 and write_starts(context, 1) == 0
    with pytest.raises(ValueError, match="run name"):
        context.with_run("a b")


def test_a_store_written_before_runs_is_upgraded_and_readable(tmp_path):
    path = tmp_path / "old.db"
    db = connect(path, use_lock_file=False)
    atoms = rattled_cuni()
    atoms.calc = Oracle("emt").calculator()
    atoms.get_potential_energy()
    old = {"loop": 0, "stage": "initial", "source": "known", "oracle_status": "ok"}
    db.write(atoms, name="init-3-1", split="train", **old)
    db.write(
        Atoms(),
        name="L1-sel-4",
        loop=1,
        stage="selected",
        split="none",
        oracle_status="skipped",
    )
    summary = {
        "count": 2,
        "energy_rmse_meV_atom": 1.5,
        "energy_mae_meV_atom": 1.0,
        "force_rmse_meV_A": 90.0,
        "force_mae_meV_A": 60.0,
        "angle_mae_deg": 7.0,
    }
    v0 = {
        "oracle_calls": 9,
        "oracle_failures": 0,
        "n_train": 4,
        "selected_sigma": [],
        "n_selected": 0,
        "n_skipped": 1,
        "gentle": {"all": summary, "known": summary, "parity": {"energy_ref": [1.0]}},
        "difficult": {},
    }
    db.write(
        Atoms(),
        name="metrics-0",
        loop=0,
        stage="metrics",
        split="none",
        oracle_status="none",
        data={"metrics": v0},
    )
    store = Store(path)
    (row,) = store.rows(Where(name="init-3-1"))
    assert row.run == "main" and row.start_index == 3 and row.frame == 1
    assert store.rows(Where(name="L1-sel-4"))[0].start_index == 4
    (metrics,) = store.metrics()
    assert metrics.errors("gentle").force_rmse_meV_A == 90.0
    assert metrics.tests["gentle"].by_source["known"].count == 2
    assert metrics.errors("difficult") is None and metrics.fit is None
    assert len(store.labelled(split=Split.TRAIN, runs=["main"])) == 1


def test_a_campaign_whose_every_label_fails_stops_with_one_line(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from hyperal.cli.main import app

    data = tiny(
        tmp_path,
        oracle={"name": "hyperal.testing:FlakyEMT", "kwargs": {"every": 1}},
        initial={"structures": 2, "relax_steps": 2},
    )
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["run", str(config)])
    assert result.exit_code == 2, result.output
    reason = "RuntimeError: the calculator reports no convergence"
    # the training start's relaxation failed: the test start's (relaxed
    # behind the fit, in process) is never paid for
    assert " ".join(result.output.split()).endswith(
        f"error: loop 0: all 1 oracle calls failed; first reason: {reason}"
    )
    assert Store(data["store"]).failure_reasons() == [(reason, 1)]
    # a rerun (the oracle unchanged) goes on from the stored failures to the
    # fit, which has nothing to fit, and says why
    result = CliRunner().invoke(app, ["run", str(config)])
    assert result.exit_code == 2, result.output
    assert "no labelled training structure to fit: all 1 oracle calls failed" in (
        " ".join(result.output.split())
    )


def test_a_checkpoint_fitted_with_other_options_is_refused(context):
    from hyperal.runs.context import RunError

    label_initial(context)
    fit(context, 0)
    changed = context.config.model_copy(
        update={
            "committee": context.config.committee.model_copy(update={"hidden": (9,)})
        }
    )
    from dataclasses import replace

    with pytest.raises(RunError, match=r"committee\.hidden"):
        fit(replace(context, config=changed), 0)


def test_background_labels_give_the_same_campaign(tmp_path):
    """Labelling in a coordinator thread while the committee evolves and fits
    changes when labels are made, not what is stored or fitted: loop 0's
    test-set relaxations run behind its fit, loop 1's difficult labels
    behind them."""
    from hyperal.campaign import Campaign
    from hyperal.runs.progress import StageKind

    results, reports = {}, []
    for background in (True, False):
        data = tiny(
            tmp_path / str(background),
            loops=2,
            executor={"kind": "inprocess", "background_labels": background},
        )
        (tmp_path / str(background)).mkdir()
        progress = reports.append if background else None
        metrics = Campaign(parse_config(data), progress=progress).run()
        store = Store(data["store"])
        rows = {r.name: (r.oracle_status, r.get("energy")) for r in store.rows()}
        results[background] = (metrics, rows)
    (m_bg, rows_bg), (m_fg, rows_fg) = results[True], results[False]
    assert rows_bg.keys() == rows_fg.keys()
    for name, (status, energy) in rows_fg.items():
        assert rows_bg[name][0] == status, name
        if energy is not None:
            assert rows_bg[name][1] == pytest.approx(energy, abs=1e-9), name
    assert not [s for s, _ in rows_bg.values() if s == "pending"]
    for a, b in zip(m_bg, m_fg, strict=True):
        assert a.oracle_calls == b.oracle_calls and a.n_train == b.n_train
        assert a.errors("gentle") == b.errors("gentle")
    loop_0 = [r for r in reports if r.loop == 0]
    fit_started = next(k for k, r in enumerate(loop_0) if r.kind == StageKind.FIT)
    behind = [r for r in loop_0[fit_started:] if r.kind == StageKind.INITIAL]
    assert behind and all(r.message == "test sets" for r in behind)
    # loop 0's evaluation waited for them: its gentle set is whole
    assert m_bg[0].tests["gentle"].all.count == m_fg[0].tests["gentle"].all.count > 0


def _evolve_loop_1(tmp_path, **selection):
    from hyperal.campaign.stages import evolve, initial_loop

    tmp_path.mkdir()
    config = parse_config(
        tiny(
            tmp_path,
            initial={"structures": 2, "relax_steps": 3},
            counts={"derived_metal": 4, "random": 0},
            difficult_fraction=0.0,
            scheme={"name": "relax", "steps": 4},
            selection=selection,
            committee={"n_members": 2, "hidden": [4], "cutoff_A": 4.0, "epochs": 5},
        )
    )
    ctx = StageContext(
        config,
        Store(config.store),
        InProcessExecutor(),
        config.oracle.build(config.store),
    )
    checkpoint = initial_loop(ctx)
    write_starts(ctx, 1)
    assert evolve(ctx, 1, checkpoint) == 4
    return ctx.store.rows(Where(stage=Stage.SELECTED, loop=1))


def test_the_redundancy_filter_passes_over_near_copies(tmp_path):
    # a threshold every pair of structures is within: each candidate nearly
    # repeats a training structure, so every start is skipped for it
    rows = _evolve_loop_1(tmp_path / "a", redundancy_threshold=1e9, candidates=3)
    assert [r.oracle_status for r in rows].count("pending") == 0
    assert all(r.oracle_status == "skipped" for r in rows)
    assert all("nearly repeat" in r.oracle_reason for r in rows)
    assert all(r.redundant >= 1 for r in rows)
    # threshold 0 keeps everything: nothing passed over
    rows = _evolve_loop_1(tmp_path / "b", redundancy_threshold=0.0)
    assert all(r.oracle_status == "pending" and r.redundant == 0 for r in rows)
    # switched off: the same frames as threshold 0
    off = _evolve_loop_1(tmp_path / "c", redundancy_filter=False)
    assert [r.positions.tobytes() for r in off] == [r.positions.tobytes() for r in rows]


def test_the_random_rule_draws_other_frames_than_max_sigma(tmp_path):
    best = _evolve_loop_1(tmp_path / "a", redundancy_filter=False)
    drawn = _evolve_loop_1(tmp_path / "b", redundancy_filter=False, rule="random")
    assert all(r.oracle_status == "pending" for r in best + drawn)
    # max σ is never below what the random rule drew from the same trajectory
    assert all(
        b.uncertainty >= d.uncertainty - 1e-12 for b, d in zip(best, drawn, strict=True)
    )
    assert any(b.uncertainty > d.uncertainty for b, d in zip(best, drawn, strict=True))


def test_a_stored_label_is_reused_for_an_identical_structure(context):
    store = context.store
    atoms = rattled_cuni(seed=3)
    first, second, other = store.add(
        [
            (atoms, Row("a", "r1", Stage.START, 0)),
            (atoms.copy(), Row("b", "r2", Stage.START, 0)),
            (rattled_cuni(seed=4), Row("c", "r2", Stage.START, 0)),
        ]
    )
    assert not store.reuse_label(first)  # nothing labelled yet
    label = Oracle("emt").label(atoms)
    store.record_label(first, label)
    assert store.reuse_label(second) and not store.reuse_label(other)
    copied = store.db.get(id=second)
    assert copied.oracle_status == "ok" and copied.cached == 1
    assert copied.energy == label.energy
    np.testing.assert_array_equal(copied.forces, label.forces)
    # paid once: the copy is not an oracle call of its run
    assert (
        store.oracle_calls(Where(run="r1")) == 1
        and store.oracle_calls(Where(run="r2")) == 0
    )


def test_final_evaluation_uses_the_same_sets_for_every_loop(tmp_path):
    from hyperal.campaign import Campaign

    data = tiny(tmp_path, loops=2)
    Campaign(parse_config(data)).run()
    store = Store(data["store"])
    final = store.final()
    assert [f.loop for f in final] == [0, 1, 2]
    n_difficult = len(store.labelled(split="difficult"))
    assert all(
        f.sizes == {"gentle": final[0].sizes["gentle"], "difficult": n_difficult}
        for f in final
    )
    assert all(f.errors("difficult").count == n_difficult for f in final)
    # the last loop's final errors are its per-loop errors: same sets by then
    assert final[-1].tests == store.metrics()[-1].tests
    # loop 0's per-loop metrics have no difficult set; its final errors do
    assert "difficult" not in store.metrics()[0].tests
    # other test sets (a resume with more loops has a larger difficult set):
    # every loop measured again on them, none of the old figures reused
    from hyperal.campaign.stages import final_evaluation, frozen_test_sets

    config = parse_config(data)
    ctx = StageContext(
        config, store, InProcessExecutor(), config.oracle.build(config.store)
    )
    sets = frozen_test_sets(ctx)
    assert n_difficult >= 2
    sets["difficult"] = sets["difficult"][:-1]
    again = final_evaluation(ctx, 2, sets)
    assert all(f.errors("difficult").count == n_difficult - 1 for f in again)
    assert all(f.sizes["difficult"] == n_difficult - 1 for f in again)
    assert [f.sizes for f in store.final()] == [f.sizes for f in again]


def test_a_force_score_ranks_by_the_members_force_disagreement(tmp_path):
    from hyperal.models.protocol import predict
    from hyperal.runs.tasks import committee

    rows = _evolve_loop_1(
        tmp_path / "a", redundancy_filter=False, score="force_sigma_mean"
    )
    assert all(r.oracle_status == "pending" for r in rows)
    model = committee(str(Store(tmp_path / "a" / "campaign.db").checkpoint_path(0)))
    for row in rows:
        (p,) = predict(model, [row.toatoms()])
        # the stored score is the mean per-atom force spread of that frame
        assert row.selection_score == pytest.approx(p.forces_sigma.mean(), rel=1e-5)
        assert row.uncertainty == pytest.approx(p.sigma, rel=1e-5)


def test_batch_selection_labels_as_many_frames_as_one_per_trajectory(tmp_path):
    one = _evolve_loop_1(tmp_path / "a", redundancy_threshold=0.0)
    both = _evolve_loop_1(
        tmp_path / "b", redundancy_threshold=0.0, batch=True, candidates=3
    )
    train = [r for r in both if r.split == "train"]
    assert len(train) == sum(r.split == "train" for r in one) == 4
    # chosen together: ranks 0..3, each frame once, names unique
    assert sorted(r.batch_rank for r in train) == [0, 1, 2, 3]
    assert len({r.name for r in both}) == len(both)
    skipped = [r for r in both if r.oracle_status == "skipped"]
    assert all("the batch chose" in r.oracle_reason for r in skipped)
    # every start is accounted for: a frame chosen or a row saying why not
    assert {r.start_index for r in both} == {r.start_index for r in one}
    # the batch keeps the redundancy filter: with every frame a near-copy of
    # the training set, none is chosen and each start says how many it passed
    near = _evolve_loop_1(
        tmp_path / "c", redundancy_threshold=1e9, batch=True, candidates=3
    )
    assert not [r for r in near if r.split == "train"]
    assert len(near) == 4 and all(r.redundant >= 1 for r in near)


def _two_runs(tmp_path, oracle):
    config = parse_config(
        tiny(tmp_path, initial={"structures": 2, "relax_steps": 2}, oracle=oracle)
    )
    first = StageContext(
        config,
        Store(config.store),
        InProcessExecutor(),
        config.oracle.build(config.store),
    )
    return first, first.with_run("second")


def test_a_second_run_pays_nothing_for_labels_the_store_holds(tmp_path):
    """Stage level: the same difficult starts written by two runs of one
    store are labelled once; the second run's rows are copies (cached)."""
    from hyperal.runs.stages import label_pending

    log = tmp_path / "calls.log"
    first, second = _two_runs(
        tmp_path, {"name": "hyperal.testing:CountingEMT", "kwargs": {"log": str(log)}}
    )
    assert write_starts(first, 1) == write_starts(second, 1)
    n = label_pending(first, 1, stage=Stage.START, split=Split.DIFFICULT)
    assert n > 0 and len(log.read_text().split()) == n
    assert label_pending(second, 1, stage=Stage.START, split=Split.DIFFICULT) == 0
    assert len(log.read_text().split()) == n  # no new oracle call
    rows = second.store.rows(Where(run="second", split=Split.DIFFICULT))
    assert len(rows) == n and all(r.oracle_status == "ok" and r.cached for r in rows)
    mine = {r.start_index: r.energy for r in rows}
    theirs = first.store.rows(Where(run=first.run, split=Split.DIFFICULT))
    assert mine == {r.start_index: r.energy for r in theirs}


def test_background_labels_store_what_foreground_labels_store(tmp_path):
    """Stage level: the difficult starts labelled in the coordinator's
    labelling thread (prefetch) and in the stage itself give the same rows."""
    from concurrent.futures import ThreadPoolExecutor, wait

    from hyperal.campaign.stages import prefetch_difficult
    from hyperal.runs.stages import label_pending

    stored = []
    for background in (True, False):
        folder = tmp_path / str(background)
        folder.mkdir()
        ctx, _ = _two_runs(folder, {"name": "emt"})
        if background:
            with ThreadPoolExecutor(1) as labeller:
                ctx = replace(ctx, labeller=labeller)
                futures = prefetch_difficult(ctx, 1)
                assert futures
                wait(futures)
            # the stage finds nothing left to label
            assert label_pending(ctx, 1, stage=Stage.START, split=Split.DIFFICULT) == 0
        else:
            write_starts(ctx, 1)
            assert label_pending(ctx, 1, stage=Stage.START, split=Split.DIFFICULT) > 0
        rows = ctx.store.rows(Where(split=Split.DIFFICULT))
        stored.append({r.name: (r.oracle_status, r.energy) for r in rows})
    assert stored[0].keys() == stored[1].keys() and stored[0]
    for name, (status, energy) in stored[1].items():
        assert stored[0][name][0] == status == "ok"
        assert stored[0][name][1] == pytest.approx(energy, abs=1e-12)


def test_a_label_in_flight_is_waited_for_never_submitted_again(tmp_path):
    """The next loop's difficult labels run behind a fit, on into that loop:
    the loop's own labelling finds them in flight and waits."""
    import threading
    from concurrent.futures import Executor, ThreadPoolExecutor

    from hyperal.campaign.stages import label_difficult_in_background
    from hyperal.runs.records import OracleStatus
    from hyperal.runs.stages import label_pending

    gate = threading.Event()

    class Pool(Executor):  # a pool of workers that land when told
        def __init__(self):
            self.threads = ThreadPoolExecutor(4)
            self.submitted = 0

        def submit(self, fn, /, *args, **kwargs):
            self.submitted += 1
            return self.threads.submit(lambda: gate.wait(10) and fn(*args, **kwargs))

    config = parse_config(tiny(tmp_path, loops=1))
    pool = Pool()
    ctx = StageContext(
        config,
        Store(config.store),
        InProcessExecutor(),
        config.oracle.build(config.store),
        labeller=pool,
        labels=pool,
    )
    write_starts(ctx, 1)
    first = label_difficult_in_background(ctx, 1)
    assert first and pool.submitted == len(first)
    assert label_difficult_in_background(ctx, 1) == first  # the same futures
    gate.set()
    assert label_pending(ctx, 1, stage=Stage.START, split=Split.DIFFICULT) == 0
    assert pool.submitted == len(first)  # nothing paid twice
    store = ctx.store
    assert store.count(Where(loop=1, status=OracleStatus.PENDING)) == 0
    assert store.count(Where(loop=1, status=OracleStatus.OK)) == len(first)
