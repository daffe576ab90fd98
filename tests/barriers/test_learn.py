"""The barrier campaign end to end on a tiny EMT alloy: loop 0's oracle
searches, the frozen random set, the triage of committee saddles,
instabilities, resume after a kill, the CLI."""

from __future__ import annotations

import copy
import re
import signal
import subprocess
import sys
import time
from html import escape

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from hyperal.barriers.config import ConfigError, parse_barrier_config
from hyperal.barriers.learn import RUN, BarrierCampaign, barrier_metrics
from hyperal.barriers.records import BarrierSplit, BarrierStage, HopWhere
from hyperal.cli.main import app
from hyperal.models.checkpoint import read_manifest
from hyperal.runs.records import OracleStatus, Split
from hyperal.runs.store import Store

TINY = {
    "system": {"elements": ["Cu", "Ni"]},
    "hops": [{"case": "fcc-vacancy", "a": 3.6}],
    "initial": {"train": 2, "random_set": 2},
    "starts": 3,
    "selection": {"score": "none"},  # tail selection: its own test, below
    "saddle": {"relax_steps": 60, "dimer_steps": 60, "neb_steps": 40, "neb_images": 3},
    "oracle": {"name": "emt"},
    "committee": {
        "n_members": 2,
        "hidden": [8],
        "cutoff_A": 4.5,
        "fit": {"epochs": 20},
    },
    "loops": 2,
}


def tiny(tmp_path, **overrides) -> dict:
    data = copy.deepcopy(TINY)
    data["store"] = str(tmp_path / "b.db")
    data.update(overrides)
    return data


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    path = tmp_path_factory.mktemp("barriers")
    # a poor committee (2 epochs) whose saddles the oracle must correct, and
    # a low artifact limit, so both kinds of saddle occur
    data = tiny(
        path,
        committee={**TINY["committee"], "fit": {"epochs": 2}},
        triage={"artifact_force_eV_A": 0.5},
        # in turn: the streamed default is compared with it below
        executor={"kind": "inprocess", "background_labels": False},
    )
    metrics = BarrierCampaign(parse_barrier_config(data)).run()
    return data, metrics


def test_every_loop_is_recorded_and_the_random_set_is_frozen(finished):
    data, metrics = finished
    store = Store(data["store"])
    assert [m.loop for m in metrics] == [0, 1, 2]
    random = store.rows(HopWhere(run=RUN, split=BarrierSplit.RANDOM))
    assert {r.loop for r in random} == {0} and len(random) == 2 * 3  # 3 points each
    # the same oracle barriers, the same structures, at every loop
    assert all(m.barrier_oracle == metrics[0].barrier_oracle for m in metrics)
    assert len(metrics[0].barrier_oracle) == 2
    assert all(0.3 < b < 1.5 for b in metrics[0].barrier_oracle)  # EMT vacancy hops
    sizes = {m.tests["random"].all.count for m in metrics}
    assert sizes == {6}
    calls = [m.oracle_calls for m in metrics]
    assert calls == sorted(calls) and calls[0] > 0
    names = [r.name for r in store.rows()]
    assert len(names) == len(set(names))
    # the random set never trains
    manifest = read_manifest(store.checkpoint_path(2, RUN))
    assert not {r.name for r in random} & set(manifest.extra["training_names"])


def test_both_triage_rules_recomputed_from_the_labels(finished):
    """Force rule: oracle max force above the limit (0.5 eV/Å here) trains
    the saddle. Energy rule (0.05 eV, the default): the committee's barrier
    against the oracle's at the committee's saddle and relaxed start, both
    labelled; off by more, the saddle and its start train. Every kind is
    recomputed here from the stored labels."""
    data, metrics = finished
    store = Store(data["store"])
    manifest = read_manifest(store.checkpoint_path(2, RUN))
    trained = set(manifest.extra["training_names"])
    kinds, off_count = {}, 0
    for row in store.rows(HopWhere(run=RUN, point="saddle", status=OracleStatus.OK)):
        if row.loop == 0:
            continue
        (start,) = store.rows(
            HopWhere(run=RUN, loop=row.loop, start_index=row.start_index, point="start")
        )
        assert start.oracle_status == "ok"
        force = float(np.max(np.linalg.norm(row.forces, axis=1)))
        assert row.oracle_max_force == pytest.approx(force)
        # the committee's start, relaxed on the committee: not the drawn one
        here = row.energy - start.energy
        error = row.barrier_mlip - here
        assert row.barrier_oracle_here == pytest.approx(here)
        assert row.barrier_error == pytest.approx(error)
        off = abs(error) > 0.05
        off_count += off
        kind = "artifactual" if force > 0.5 else "energy" if off else "proximal"
        kinds[kind] = kinds.get(kind, 0) + 1
        assert row.triage == kind and row.barrier_off == int(off)
        assert (row.name in trained) == (force > 0.5 or off)
        assert row.split == ("train" if force > 0.5 or off else "proximal")
        assert (start.name in trained) == off
        assert start.split == ("train" if off else "none")
    # a 2-epoch committee: both rules fire, and some saddle is left proximal
    # by both only if the committee got it right; the counts are the rows'
    assert kinds.get("artifactual") and off_count, kinds
    last = metrics[-1]
    for kind in ("artifactual", "energy", "proximal"):
        assert last.counts.get(kind, 0) == kinds.get(kind, 0)
    assert last.counts["barrier_off"] == off_count


def test_force_rule_only_labels_no_start(tmp_path):
    """``triage.barrier_error_eV: null``: the saddles alone are labelled (no
    start of a committee search), sorted by their forces."""
    data = tiny(tmp_path, loops=1, triage={"barrier_error_eV": None})
    (_, last) = BarrierCampaign(parse_barrier_config(data)).run()
    store = Store(data["store"])
    starts = store.rows(HopWhere(run=RUN, loop=1, point="start"))
    assert all(r.triage == "instability" for r in starts)  # unrelaxed, trains
    saddles = store.rows(
        HopWhere(run=RUN, loop=1, point="saddle", status=OracleStatus.OK)
    )
    assert saddles and {r.triage for r in saddles} <= {"artifactual", "proximal"}
    assert not any(r.get("barrier_off") for r in saddles)
    assert last.counts["barrier_off"] == 0 and not last.counts.get("energy")
    # the labels paid after loop 0: one per saddle and instability
    labelled = store.count(HopWhere(loop=1, run=RUN, status=OracleStatus.OK))
    labelled += store.count(HopWhere(loop=1, run=RUN, status=OracleStatus.FAILED))
    assert last.oracle_calls - metrics_calls(store, 0) == labelled
    assert labelled == len(saddles) + len(starts)


def metrics_calls(store, loop):
    return barrier_metrics(store)[loop].oracle_calls


def test_instabilities_enter_training_unrelaxed(tmp_path, monkeypatch):
    from hyperal.barriers import stages

    real = stages.mlip_saddle

    def unstable(checkpoint, start, options, floor):
        if start.info["decoration"].endswith("0"):  # some hops "explode"
            edge = start.copy()  # the edge of the hole (the real one: below)
            edge.positions += np.random.default_rng(0).normal(0, 0.05, (len(edge), 3))
            return None, np.inf, "RuntimeError: the committee exploded", edge
        return real(checkpoint, start, options, floor)

    monkeypatch.setattr(stages, "mlip_saddle", unstable)
    data = tiny(tmp_path, loops=1, starts=4)
    BarrierCampaign(parse_barrier_config(data)).run()
    store = Store(data["store"])
    unstable_rows = store.rows(HopWhere(run=RUN, loop=1, triage="instability"))
    assert unstable_rows
    drawn = {r.start_index: r for r in unstable_rows}
    for row in unstable_rows:
        assert row.split == "train" and row.oracle_status == "ok"
        assert row.point == "start" and "exploded" in row.reason
    trained = set(read_manifest(store.checkpoint_path(1, RUN)).extra["training_names"])
    assert {r.name for r in drawn.values()} <= trained
    # each instability's collapse frame is labelled and trains beside it
    edges = store.rows(HopWhere(run=RUN, loop=1, point="collapse"))
    assert {r.start_index for r in edges} == set(drawn)
    for row in edges:
        assert row.triage == "collapse" and row.split == "train"
        assert row.oracle_status == "ok" and row.name in trained
        assert row.closest_A == pytest.approx(_closest(row.toatoms()))
    (last,) = barrier_metrics(store)[1:]
    assert last.counts["collapse"] == len(edges)


def _closest(atoms):
    from ase.geometry import get_distances

    _, d = get_distances(atoms.positions, cell=atoms.cell, pbc=True)
    return float(np.min(d[np.triu_indices(len(atoms), 1)]))


def test_the_last_physical_frame_of_a_committee_with_a_hole():
    """A pair potential that only attracts (a committee's hole): the
    relaxation pulls atoms together; the frame kept is the last whose
    closest atoms are still at the floor, not the start. EMT, which has
    no hole, relaxes: that is said, and nothing below the floor is kept."""
    from ase.build import bulk
    from ase.calculators.calculator import Calculator, all_changes
    from ase.calculators.emt import EMT

    from hyperal.barriers.tasks import last_physical

    class Hole(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=None, changes=all_changes):
            super().calculate(atoms, properties, changes)
            d = self.atoms.get_all_distances(mic=True, vector=True)
            r = np.linalg.norm(d, axis=2) + np.eye(len(self.atoms))
            inv = np.where(np.eye(len(self.atoms), dtype=bool), 0.0, 1 / r)
            self.results["energy"] = -0.5 * float(inv.sum())
            # E = -sum 1/r: the force on i pulls it toward every j
            self.results["forces"] = np.einsum("ijk,ij->ik", d, inv**3)

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.positions += np.random.default_rng(1).normal(0, 0.1, atoms.positions.shape)
    frame, relaxed = last_physical(atoms, Hole(), 0.02, 300, floor=1.5)
    assert not relaxed and frame is not None
    assert 1.5 <= _closest(frame) < _closest(atoms)
    assert not np.allclose(frame.positions, atoms.positions)
    frame, relaxed = last_physical(atoms, EMT(), 0.05, 300, floor=1.5)
    assert relaxed and _closest(frame) >= 1.5


def test_a_killed_barrier_campaign_resumes_without_loss_or_duplicates(tmp_path):
    data = tiny(tmp_path)
    config = tmp_path / "b.yaml"
    config.write_text(yaml.safe_dump(data))
    command = [sys.executable, "-m", "hyperal.cli.main", "barriers", "run", str(config)]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    store = Store(data["store"])
    while time.time() < deadline and not store.count(HopWhere(loop=1, run=RUN)):
        time.sleep(0.2)
    run.send_signal(signal.SIGKILL)
    run.wait()
    before = {
        r.name: (r.energy, r.forces.tobytes())
        for r in store.rows(HopWhere(status=OracleStatus.OK))
    }
    assert before
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = store.rows()
    names = [r.name for r in rows]
    assert len(names) == len(set(names))
    after = {
        r.name: (r.energy, r.forces.tobytes())
        for r in rows
        if r.get("oracle_status") == "ok"
    }
    assert all(after[name] == value for name, value in before.items())
    assert [m.loop for m in barrier_metrics(store)] == [0, 1, 2]


def test_mistakes_are_named_before_any_oracle_call(tmp_path):
    data = tiny(tmp_path)
    data["system"]["elements"] = ["Cu", "Nii"]
    data["hops"] = [{"case": "hcp-vacancy"}]
    data["cells"] = {"sizes": [[2, 4, 2]]}
    with pytest.raises(ConfigError) as error:
        parse_barrier_config(data)
    assert "cells.sizes" in str(error.value) and "each Nᵢ must be 2 or 3" in str(
        error.value
    )
    data["cells"] = {"sizes": [[2, 2, 2]]}
    with pytest.raises(ConfigError) as error:
        parse_barrier_config(data)
    assert str(error.value) == "system.elements[1]: 'Nii' is not an element"
    data["system"]["elements"] = ["Cu", "Ni"]
    with pytest.raises(ConfigError, match=r"hops\[0\].case: unknown hop 'hcp-vacancy'"):
        parse_barrier_config(data)


def test_cli_init_run_status(tmp_path):
    runner = CliRunner()
    template = tmp_path / "t.yaml"
    result = runner.invoke(app, ["barriers", "init", str(template)])
    assert result.exit_code == 0 and template.exists()
    parse_barrier_config(yaml.safe_load(template.read_text()))  # the template is valid
    config = tmp_path / "b.yaml"
    config.write_text(yaml.safe_dump(tiny(tmp_path)))
    result = runner.invoke(app, ["barriers", "status", str(config)])
    assert result.exit_code == 2 and "no barrier store yet" in result.output


def test_report_and_csv_show_every_loop(finished, tmp_path):
    import csv

    from hyperal.testing import browser, render_in_browser

    data, metrics = finished
    config = tmp_path / "b.yaml"
    config.write_text(yaml.safe_dump(data))
    html = tmp_path / "r.html"
    result = CliRunner().invoke(
        app, ["barriers", "report", str(config), "-o", str(html)]
    )
    assert result.exit_code == 0, result.output
    text = html.read_text()
    for name in ("barrier-curve", "barrier-parity", "barrier-distributions"):
        assert f"id='fig-{name}'" in text
    assert "By cell size" in text and "fcc-vacancy: Cu" in text + "fcc-vacancy: Ni"
    # per hop type and species, each RMSE recomputed by hand from the
    # barriers (meV; hops whose committee search gave none left out)
    last = metrics[-1]
    for group in set(last.barrier_hops):
        mine = [k for k, g in enumerate(last.barrier_hops) if g == group]
        errors = [
            1e3 * (last.barrier_mlip[k] - last.barrier_oracle[k])
            for k in mine
            if last.barrier_mlip[k] is not None
        ]
        start = f"<td class=l>{escape(group)}</td><td>{len(mine)}</td>"
        row = re.search(rf"{re.escape(start)}(.*?)</tr>", text, re.S)
        assert row, group
        cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
        if errors:
            rmse = float(np.sqrt(np.mean(np.square(errors))))
            assert any(c.split(" [")[0] == f"{rmse:.0f}" for c in cells), (group, cells)
        else:
            assert "–" in cells, (group, cells)
    for name, figure in (
        ("barriers.svg", "barrier-parity"),
        ("barrier-distributions.svg", "barrier-distributions"),
    ):  # each file the very figure the page shows
        drawn = (tmp_path / name).read_text()
        assert drawn.startswith("<svg") and drawn.endswith("</svg>")
        assert f"<figure id='fig-{figure}'>{drawn}" in text
    with open(tmp_path / "metrics.csv") as handle:
        rows = list(csv.reader(handle))
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    energy, off = rows[0].index("energy"), rows[0].index("barrier off")
    assert rows[-1][energy] == str(last.counts.get("energy", 0))
    assert rows[-1][off] == str(last.counts["barrier_off"])
    assert rows[-1][1] == str(metrics[-1].oracle_calls)
    with open(tmp_path / "barriers.csv") as handle:
        barriers = list(csv.DictReader(handle))
    assert len(barriers) == 3 * 2  # every loop, both random hops
    for row in barriers:  # the frozen oracle barriers at every loop
        expected = metrics[0].barrier_oracle[int(row["index"])]
        assert float(row["oracle_eV"]) == pytest.approx(expected, abs=1e-5)
        assert row["hop"] == "fcc-vacancy" and row["cell_size"] == "2x2x2"
        assert row["hopping"] in ("Cu", "Ni")
        found = row["mlip_eV"] != ""
        assert found != bool(row["mlip_untrusted_because"])
    if browser() is not None:
        dom, console = render_in_browser(html)
        assert console == [] and dom.count("<figure") == 3


@pytest.mark.parametrize("score", ["sigma", "gamma"])
def test_a_loop_searches_the_tail_of_the_score(finished, score):
    """The hops a loop searches are the tail of the committee's σ (or γ) of
    many drawn hops, a fifth set aside for testing; the same on a rerun."""
    from hyperal.barriers.hops import iter_hops
    from hyperal.barriers.stages import choose_hops
    from hyperal.committee.grade import ExtrapolationGrade
    from hyperal.models.protocol import predict
    from hyperal.runs import InProcessExecutor, StageContext
    from hyperal.runs.stages import training_set
    from hyperal.runs.tasks import committee

    data, _ = finished
    config = parse_barrier_config(
        {**data, "starts": 4, "selection": {"score": score, "min_drawn": 30}}
    )
    store = Store(data["store"])
    ctx = StageContext(
        config, store, InProcessExecutor(), config.oracle.build(config.store), run=RUN
    )
    checkpoint = store.checkpoint_path(2, RUN)
    hops = choose_hops(ctx, 3, checkpoint)
    assert len(hops) == 5  # 4 to search + 1 to test (a fifth of the tail)
    assert sum(1 for h in hops if h.info.get("tail_test")) == 1
    again = choose_hops(ctx, 3, checkpoint)
    assert [h.info["decoration"] for h in again] == [h.info["decoration"] for h in hops]
    pairs = zip(hops, again, strict=True)
    assert all(np.array_equal(a.positions, b.positions) for a, b in pairs)
    # every chosen hop scores above the median of plain draws
    model = committee(str(checkpoint))
    if score == "sigma":

        def value(atoms):
            return float(predict(model, [atoms])[0].sigma) / len(atoms)

    else:
        grade = ExtrapolationGrade.from_training(model, training_set(ctx, 2, [RUN]))

        def value(atoms):
            return grade.structure(model, atoms)

    draws = iter_hops(config, 3, 0)
    median = np.median([value(next(draws)) for _ in range(30)])
    assert all(value(h) > median for h in hops)


def test_a_store_belongs_to_one_barrier_campaign(finished):
    from hyperal.runs.context import RunError

    data, metrics = finished
    with pytest.raises(RunError) as error:
        BarrierCampaign(parse_barrier_config({**data, "seed": 7})).run()
    assert str(error.value) == (
        "this store holds a barrier campaign with other settings (seed); use a "
        "new store, or restore those settings"
    )
    # the executor never counts; the finished loops are not run again
    same = {**data, "executor": {"kind": "inprocess", "background_labels": True}}
    again = BarrierCampaign(parse_barrier_config(same)).run()
    assert [m.model_dump() for m in again] == [m.model_dump() for m in metrics]


def test_streamed_labels_give_the_same_barrier_campaign(tmp_path):
    """By default each row a committee search stores is labelled at once (a
    labelling thread) while the next search runs. Against the same campaign
    labelled in turn after the searches (``background_labels: false``), run
    just before it in this process: the same rows, statuses, splits, triage
    and oracle calls, nothing left pending, and every label the oracle's on
    the structure stored in its own row.

    Loops 0 and 1 (a second loop would test nothing more). The two runs are
    compared here, back to back, rather than with the module's campaign run
    first in the session: a collapse frame is the end of a committee
    relaxation running into a hole, where the last bit of a float decides
    the path, and on CI's machine that in-turn campaign stored one whose
    oracle energy was 29.4 eV where the streamed campaign — and every run
    on the development machine, in either order, in one process or several,
    idle or loaded — gave 38.2 eV. So energies are compared where the
    structures are the same, and each label is recomputed on its own row."""
    from ase.calculators.emt import EMT

    from hyperal.runs.progress import StageKind

    data = tiny(
        tmp_path,
        committee={**TINY["committee"], "fit": {"epochs": 2}},
        triage={"artifact_force_eV_A": 0.5},
        loops=1,
    )
    in_turn = {
        **data,
        "store": str(tmp_path / "in_turn.db"),
        "executor": {"kind": "inprocess", "background_labels": False},
    }
    first = BarrierCampaign(parse_barrier_config(in_turn)).run()
    reports = []
    again = BarrierCampaign(parse_barrier_config(data), reports.append).run()
    # a label of loop 1 landed before the loop's last search ended
    loop_1 = [r.kind for r in reports if r.loop == 1]
    last_search = max(i for i, kind in enumerate(loop_1) if kind == StageKind.EVOLVE)
    assert StageKind.LABEL in loop_1[:last_search]

    def rows(path):
        return {r.name: r for r in Store(path).rows(HopWhere(run=RUN, max_loop=1))}

    mine, theirs = rows(data["store"]), rows(in_turn["store"])
    assert mine.keys() == theirs.keys()
    assert any("L1-hop-" in n for n, r in theirs.items() if r.oracle_status == "ok")
    for name, row in theirs.items():
        decided = ("oracle_status", "split", "triage")
        assert [mine[name].get(k) for k in decided] == [row.get(k) for k in decided]
        if row.get("energy") is None:
            continue
        atoms = mine[name].toatoms()
        if np.array_equal(atoms.positions, row.toatoms().positions):
            assert mine[name].energy == pytest.approx(row.energy, abs=1e-9), name
        atoms.calc = EMT()
        assert mine[name].energy == pytest.approx(atoms.get_potential_energy()), name
    assert not [n for n, row in mine.items() if row.oracle_status == "pending"]
    counted = ("loop", "oracle_calls", "oracle_atoms", "n_train", "counts")
    for streamed, turn in zip(again, first, strict=True):
        assert [getattr(streamed, k) for k in counted] == [
            getattr(turn, k) for k in counted
        ]


def test_oracle_cost_is_counted_in_calls_and_atoms_per_cell_size(finished):
    """Recounted from the rows: each oracle search's calls times its cell's
    atoms, one call per structure labelled in later loops."""
    data, metrics = finished
    store = Store(data["store"])
    for m in metrics:
        calls = atoms = 0
        for row in store.rows(HopWhere(max_loop=m.loop, run=RUN)):
            if row.get("search_calls"):
                calls += row.search_calls
                atoms += row.search_calls * row.natoms
            elif row.loop > 0 and row.get("oracle_status") in ("ok", "failed"):
                calls += 1
                atoms += row.natoms
        assert (m.oracle_calls, m.oracle_atoms) == (calls, atoms)
        assert atoms == 31 * calls  # every cell is 2x2x2 with a vacancy
        (size,) = m.by_cell_size
        figures = m.by_cell_size[size]
        assert size == "2x2x2" and figures["oracle_atoms"] == atoms
        assert figures["random_hops"] == 2
        assert figures["random_barrier_rmse_meV"] == pytest.approx(m.barrier_rmse_meV)
        assert figures["random_force_rmse_meV_A"] == pytest.approx(
            m.tests["random"].all.force_rmse_meV_A
        )


def test_strained_cells_and_enumerated_environments(tmp_path):
    from hyperal.barriers.cells import hop_end
    from hyperal.barriers.hops import draw_hops
    from hyperal.barriers.paths import canonical, load_case, path_environment
    from hyperal.structures.strain import measured_strain

    data = tiny(
        tmp_path,
        system={"elements": ["Nb", "Ti", "O"]},
        hops=[{"case": "bcc-octahedral", "a": 3.3}],
        cells={"sizes": [[2, 2, 2]], "strain": True},
        environments="enumerated",
    )
    config = parse_barrier_config(data)
    env = path_environment(load_case("bcc-octahedral", a=3.3))
    n = env.count(2)  # 100 distinct environments, directed
    hops = draw_hops(config, 0, n + 5, 1)
    codes = [
        "".join(map(str, canonical(env, [int(c) for c in h.info["decoration"]], 2)[0]))
        for h in hops
    ]
    assert len(set(codes[:n])) == n  # each distinct environment once ...
    assert set(codes[n:]) <= set(codes[:n])  # ... before any again
    reference = load_case("bcc-octahedral", a=3.3).lattice.repeat((2, 2, 2)).cell[:]
    for hop in hops[:10]:
        linear, von_mises = hop.info["linear_strain"], hop.info["von_mises_strain"]
        assert -0.05 <= linear <= 0.10 and 0 <= von_mises <= 0.05
        measured = measured_strain(reference, hop.cell[:])
        assert measured["volumetric"] == pytest.approx((1 + linear) ** 3 - 1, abs=1e-9)
        assert measured["von_mises"] == pytest.approx(von_mises, abs=1e-9)
        # the hop's end is the strained octahedral neighbour: a/2 scaled
        end = hop_end(hop)
        atom = hop.info["hop_atom"]
        step = end.positions[atom] - hop.positions[atom]
        step -= end.cell.cartesian_positions(
            np.round(end.cell.scaled_positions(step[None]))
        )[0]
        assert 0.8 * 1.65 < np.linalg.norm(step) < 1.2 * 1.65
    # the same draws on a rerun; random mode draws no strain
    again = draw_hops(config, 0, 3, 1)
    assert all(
        np.array_equal(a.cell, b.cell) for a, b in zip(again, hops, strict=False)
    )
    plain = draw_hops(parse_barrier_config({**data, "cells": {}}), 0, 3, 1)
    assert all("linear_strain" not in h.info for h in plain)


def test_counts_and_committee_within_the_limits(tmp_path):
    data = tiny(tmp_path, starts=10**9)
    data["committee"] = {**data["committee"], "hidden": [100000, 100000]}
    with pytest.raises(ConfigError) as error:
        parse_barrier_config(data)
    lines = str(error.value).splitlines()
    assert lines[0] == (
        "starts: 1,000,000,000 structures exceeds the limit of 100,000; set "
        "HYPERAL_MAX_STRUCTURES to allow more"
    )
    assert lines[1].startswith("committee.hidden: ") and len(lines) == 2


def test_new_keys_mistakes_are_named(tmp_path):
    data = tiny(tmp_path, cells={"linear_strain": [0.1, -0.1]})
    with pytest.raises(ConfigError, match=r"cells.linear_strain: .*low <= high"):
        parse_barrier_config(data)
    data = tiny(
        tmp_path, system={"elements": ["Cu", "Ni", "Pd"]}, environments="enumerated"
    )
    with pytest.raises(ConfigError) as error:
        parse_barrier_config(data)
    assert str(error.value) == (
        "environments: enumerated: hops[0] (fcc-vacancy) has 3^18 = 387,420,489 "
        "decorations to walk (limit 10,000,000); use environments: random"
    )
    data = tiny(tmp_path, initial={"train": 0, "random_set": 1})
    with pytest.raises(ConfigError, match=r"^initial.train: 0 training hops"):
        parse_barrier_config(data)
    data["initial"]["from_campaign"] = {"store": str(tmp_path / "none.db")}
    with pytest.raises(ConfigError) as error:
        parse_barrier_config(data)
    assert str(error.value) == (
        f"initial.from_campaign.store: no campaign store at {tmp_path / 'none.db'}"
    )
    assert not (tmp_path / "none.db").exists()


def test_initial_data_from_an_earlier_campaign(finished, tmp_path):
    """A barrier campaign starts from the labels and the committee of an
    earlier one: exactly the structures that committee was fitted on, copied
    with their labels (no oracle call), and a warm-started loop-0 fit."""
    data, _ = finished
    source = Store(data["store"])
    fitted = read_manifest(source.checkpoint_path(2, RUN)).extra["training_names"]
    new = tiny(
        tmp_path,
        initial={
            "train": 0,
            "random_set": 1,
            "from_campaign": {"store": data["store"], "run": RUN},
        },
        committee=data["committee"],
        loops=1,
        starts=1,
    )
    metrics = BarrierCampaign(parse_barrier_config(new)).run()
    store = Store(new["store"])
    imported = store.rows(HopWhere(run=RUN, stage=BarrierStage.IMPORTED))
    assert [r.imported_from.split("#")[1] for r in imported] == fitted
    originals = {
        r.name: r for r in source.rows(HopWhere(run=RUN, status=OracleStatus.OK))
    }
    for row in imported:
        original = originals[row.imported_from.split("#")[1]]
        assert row.energy == original.energy and row.split == "train"
        assert np.array_equal(row.forces, original.forces)
    manifest = read_manifest(store.checkpoint_path(0, RUN))
    assert manifest.extra["training_names"] == [r.name for r in imported]
    assert manifest.fit.warm_started
    assert {r.source_loop for r in imported} == {2}
    # the imported labels were paid for elsewhere: loop 0 paid for the random
    # hop's search only
    (search,) = store.rows(HopWhere(has="search_calls", run=RUN))
    assert metrics[0].oracle_calls == search.search_calls
    # mismatches are one line each, before any oracle call
    other = {**new, "store": str(tmp_path / "c.db")}
    bad = {**other, "system": {"elements": ["Ni", "Cu"]}}
    with pytest.raises(ConfigError) as error:
        parse_barrier_config(bad)
    assert str(error.value) == (
        "initial.from_campaign.warm_start: its committee was fitted for the "
        "elements Cu, Ni, not system.elements Ni, Cu (the same, in the same "
        "order, or warm_start: false)"
    )
    bad = {**other, "oracle": {"name": "emt", "kwargs": {"asap_cutoff": True}}}
    with pytest.raises(ConfigError) as error:
        parse_barrier_config(bad)
    assert str(error.value) == (
        "initial.from_campaign: its labels come from the oracle emt {}, this "
        "file's oracle is emt {'asap_cutoff': True}: labels of two oracles do "
        "not mix"
    )
    bad = {**other, "committee": {**data["committee"], "hidden": [4]}}
    with pytest.raises(ConfigError, match=r"differs in committee.hidden"):
        parse_barrier_config(bad)
    bad = {
        **other,
        "initial": {
            **new["initial"],
            "from_campaign": {"store": data["store"], "run": RUN, "loop": 9},
        },
    }
    with pytest.raises(ConfigError, match=r"^initial.from_campaign.loop: loop 9"):
        parse_barrier_config(bad)


def test_a_random_hop_without_a_trusted_oracle_barrier_is_left_out(
    tmp_path, monkeypatch
):
    """An oracle search that does not connect the ends (or converge, or puts
    the saddle below an end) cannot be the reference of a barrier error: the
    hop's labels are kept, outside the random set, and counted."""
    import dataclasses

    from hyperal.barriers import hops, tasks

    data = tiny(tmp_path, loops=1, starts=1)
    config = parse_barrier_config(data)
    first_random = hops.draw_hops(config, 0, 1, 2)[0].info["decoration"]
    real = tasks.find_saddle

    def spoiled(start, end, calc, options):
        result = real(start, end, calc, options)
        if start.info.get("decoration") == first_random:
            return dataclasses.replace(result, connects=False)
        return result

    monkeypatch.setattr(tasks, "find_saddle", spoiled)
    metrics = BarrierCampaign(config).run()
    store = Store(data["store"])
    left = store.rows(HopWhere(run=RUN, loop=0, drawn_as="random", split=Split.NONE))
    assert {r.point for r in left} == {"start", "saddle", "end"}
    assert all(r.oracle_status == "ok" for r in left)  # labels kept
    assert (
        len(
            store.rows(
                HopWhere(run=RUN, loop=0, point="saddle", split=BarrierSplit.RANDOM)
            )
        )
        == 1
    )
    assert all(len(m.barrier_oracle) == 1 for m in metrics)
    assert metrics[-1].counts["random_untrusted"] == 1


def test_the_plan_bounds_the_calls_a_barrier_campaign_paid(finished):
    """`hyperal plan` of a barrier file against the run: loop 0's oracle
    searches each paid at least the three labels the plan counts (a floor),
    every later loop no more than two labels per committee search."""
    from hyperal.barriers.plan import SEARCH_FLOOR, barrier_plan

    data, _ = finished
    cfg = parse_barrier_config(data)
    plan = barrier_plan(cfg)
    store = Store(cfg.store)
    planned = plan.loop_calls()
    assert plan.bound == "≥" and set(planned) == set(range(cfg.loops + 1))
    searches = cfg.initial.train + cfg.initial.random_set
    assert planned[0] == SEARCH_FLOOR * searches
    assert store.oracle_calls(HopWhere(run=RUN, loop=0)) >= planned[0]
    for loop in range(1, cfg.loops + 1):
        paid = store.oracle_calls(HopWhere(run=RUN, loop=loop))
        assert paid <= planned[loop], (loop, paid, planned[loop])
