"""`hyperal benchmark` on a tiny system: shared labels paid once, curves on
frozen sets, figures recomputable from the store, a page that renders."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from hyperal.benchmark import Benchmark, calls_to_reach, collect, load_benchmark
from hyperal.benchmark.results import mean_over_budget
from hyperal.benchmark.run import variant_run
from hyperal.cli.main import app
from hyperal.labels import reference
from hyperal.runs.evaluate import Labelled, summarise
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus, Split, Stage
from hyperal.runs.settings import ConfigError
from hyperal.runs.store import Store
from hyperal.runs.tasks import predict
from hyperal.testing import browser, render_in_browser
from tests.campaign.conftest import TINY
from tests.helpers import emt_test_file

LOOPS = 2
BENCH = {
    "campaign": {
        **TINY,
        "initial": {"structures": 4, "relax_steps": 4, "rattle_A": 0.15},
        "counts": {"derived_metal": 5, "derived_oxide": 0, "random": 1},
        "scheme": {"steps": 8},
        "committee": {"n_members": 2, "hidden": [8], "cutoff_A": 4.0, "epochs": 30},
        "loops": LOOPS,
    },
    # `twin` explores exactly as `relax` does: every label it needs is one
    # `relax` paid for already
    "variants": [
        {"name": "relax"},
        {"name": "twin", "scheme": "relax"},
        {"name": "md-random", "scheme": "md", "selection": {"rule": "random"}},
    ],
    "reference": "relax",
    "replicates": 2,
}


#: a robustness set of two strata (hyperal testset)
ROBUST = {
    "system": BENCH["campaign"]["system"],
    "oracle": {"name": "emt"},
    "seed": 11,
    "strata": [
        {"kind": "vacancy", "count": 2},
        {
            "name": "hydro",
            "kind": "strain",
            "mode": "hydrostatic",
            "count": 2,
            "strain": [-0.03, 0.05],
        },
    ],
}


#: the confirmatory question, declared before the run
PRIMARY = {
    "measure": "stratum_balanced",
    "test_set": "robust",
    "comparisons": ["relax vs md-random", "twin vs relax"],
    "draws": 400,
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    from hyperal.testsets import build_test_set, parse_recipe

    folder = tmp_path_factory.mktemp("bench")
    emt_test_file(folder / "test.extxyz", 3)  # a user's test set
    build_test_set(parse_recipe(ROBUST), folder / "robust.extxyz")
    path = folder / "bench.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                **BENCH,
                "store": str(folder / "bench.db"),
                "test_file": "test.extxyz",
                "test_sets": {"robust": "robust.extxyz"},
                "primary": PRIMARY,
            }
        )
    )
    out = folder / "results"
    result = CliRunner().invoke(app, ["benchmark", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    bench, base = load_benchmark(path)
    store = Store(bench.store)
    return bench, base, store, collect(store, bench, base), out, result.output


def test_shared_labels_are_paid_once(finished):
    bench, base, store, results, *_ = finished
    for r in range(2):
        assert store.oracle_calls(Where(run=f"r{r}.twin")) == 0
        twin = store.rows(
            Where(run=f"r{r}.twin", stage=Stage.SELECTED, status=OracleStatus.OK)
        )
        assert twin and all(row.cached == 1 for row in twin)
        # the difficult sets and initial data live in the shared run only
        assert store.count(Where(run=f"r{r}.relax", split=Split.DIFFICULT)) == 0
        assert store.count(Where(run=f"r{r}.shared", split=Split.DIFFICULT)) == LOOPS
    by = {s.variant: s for s in results.summaries}
    assert by["twin"].final_labels == by["relax"].final_labels
    # every label copied (the twin's, and any frame two variants both chose)
    # is one oracle call less than the variants' training labels + shared sets
    copied = store.count(Where(status=OracleStatus.OK, cached=1))
    assert copied >= 2 * 2 * 5  # the twin: 2 replicates, 2 loops, 5 frames
    assert results.total_oracle_calls == (
        results.own_training_labels + results.shared_labels - copied
    )
    assert results.cost_ratio < 1
    # identical exploration, identical seeds: identical committees
    assert by["twin"].final_force_rmse == by["relax"].final_force_rmse


def test_every_variant_grows_by_its_selected_frames(finished):
    bench, base, store, results, *_ = finished
    for curve in results.curves:
        run = f"r{curve.replicate}.{curve.variant}"
        metrics = store.metrics(run)
        assert [m.loop for m in metrics] == [1, 2]  # loop 0 is the shared run's
        assert [f.loop for f in curve.final] == [0, 1, 2]
        n_train = [store.metrics(f"r{curve.replicate}.shared")[0].n_train] + [
            m.n_train for m in metrics
        ]
        for k in (1, 2):
            labelled = store.count(
                Where(run=run, loop=k, stage=Stage.SELECTED, status=OracleStatus.OK)
            )
            assert n_train[k] - n_train[k - 1] == labelled
            assert curve.labels[k] - curve.labels[k - 1] == labelled + store.count(
                Where(run=run, loop=k, stage=Stage.SELECTED, status=OracleStatus.FAILED)
            )
        # the same frozen sets for every loop and variant of a replicate
        sizes = {tuple(sorted(f.sizes.items())) for f in curve.final}
        assert len(sizes) == 1


def test_the_summary_is_recomputed_from_the_store(finished):
    bench, base, store, results, out, output = finished
    by = {s.variant: s for s in results.summaries}
    difficult = store.labelled(split="difficult", runs=["r1.shared"])
    refs = [reference(a) for a in difficult]
    labelled = [
        Labelled(r.energy, r.forces, a.info["source"])
        for r, a in zip(refs, difficult, strict=True)
    ]
    again = summarise(
        labelled,
        predict(str(store.checkpoint_path(LOOPS, "r1.md-random")), difficult),
        seed=LOOPS,
    )
    assert by["md-random"].final_force_rmse[1] == pytest.approx(
        again.all.force_rmse_meV_A
    )
    assert set(by) == {"relax", "twin", "md-random"}
    # calls to the target, read off each curve by hand: the target is the
    # reference's final error; a variant reaches it between the loops whose
    # errors straddle it (or never), and its ratio is over the reference's
    for r in range(2):
        finals = {
            v: [
                f.errors("difficult").force_rmse_meV_A
                for f in store.final(variant_run(r, v))
            ]
            for v in by
        }
        target = finals["relax"][-1]
        assert results.targets[r] == pytest.approx(target)
        for v, errors in finals.items():
            (curve,) = [c for c in results.curves if (c.variant, c.replicate) == (v, r)]
            calls = by[v].calls_to_target[r]
            reached = [k for k, e in enumerate(errors) if e <= target + 1e-9]
            if not reached:
                assert calls is None and by[v].ratio_to_reference[r] is None
                continue
            # linear between the loop before and the first that reaches it
            k, x = reached[0], curve.labels
            expected = (
                x[0]
                if k == 0
                else x[k - 1]
                + (x[k] - x[k - 1])
                * (errors[k - 1] - target)
                / (errors[k - 1] - errors[k])
            )
            assert calls == pytest.approx(expected), (v, r)
            reference_calls = by["relax"].calls_to_target[r]
            assert by[v].ratio_to_reference[r] == pytest.approx(calls / reference_calls)
    csv = (out / "curves.csv").read_text().splitlines()
    assert len([line for line in csv if ",difficult,all," in line]) == 3 * 2 * 3
    summary = (out / "summary.txt").read_text()
    assert summary.strip() == results.text()
    # what it says, read back: each variant's mean final force RMSE over the
    # replicates (from the store's final rows), best first
    ranked = re.findall(r"^\s*\d+\. (\S+)\s+F\s+([\d.]+) ±", summary, re.M)
    assert [v for v, _ in ranked] == sorted(by, key=lambda v: float(dict(ranked)[v]))
    for v, printed in ranked:
        mean = np.mean(
            [
                store.final(variant_run(r, v))[-1].errors("difficult").force_rmse_meV_A
                for r in range(2)
            ]
        )
        assert float(printed) == pytest.approx(mean, abs=0.051), v
    assert "ranking by final force RMSE on the frozen difficult set" in output


def test_the_target_ratios_and_ranking_recomputed_from_the_store(finished):
    """Independently of ``collect``: each replicate's target is the
    reference's last final error; each variant's calls to it come from its
    checkpoints' training names and its final errors, as a ratio to the
    reference's; the ranking sorts the replicate means."""
    from hyperal.benchmark.run import shared_run, variant_run
    from hyperal.models.checkpoint import read_manifest

    bench, base, store, results, out, output = finished

    def curve(r, variant):
        run = variant_run(r, variant)
        owners = [shared_run(r)] + [run] * LOOPS  # loop 0's committee is shared
        manifests = [
            read_manifest(store.checkpoint_path(loop, owner))
            for loop, owner in enumerate(owners)
        ]
        labels = [len(m.extra["training_names"]) for m in manifests]
        errors = [f.errors("difficult").force_rmse_meV_A for f in store.final(run)]
        return labels, errors

    by = {s.variant: s for s in results.summaries}
    for r in range(bench.replicates):
        reference_labels, reference_errors = curve(r, "relax")
        target = reference_errors[-1]
        assert results.targets[r] == pytest.approx(target)
        reference_calls = calls_to_reach(reference_labels, reference_errors, target)
        for variant in ("twin", "md-random"):
            labels, errors = curve(r, variant)
            assert by[variant].final_force_rmse[r] == pytest.approx(errors[-1])
            calls = calls_to_reach(labels, errors, target)
            assert by[variant].calls_to_target[r] == calls
            expected = None if calls is None else calls / reference_calls
            assert by[variant].ratio_to_reference[r] == pytest.approx(expected)
            assert by[variant].budget_ratio[r] == pytest.approx(
                labels[-1] / reference_calls
            )
    means = {
        v: np.mean([curve(r, v)[1][-1] for r in range(bench.replicates)]) for v in by
    }
    assert [s.variant for s in results.ranking()] == sorted(means, key=means.get)
    lines = [line for line in output.splitlines() if re.match(r"\s*\d\. ", line)]
    assert [line.split()[1] for line in lines[:3]] == sorted(means, key=means.get)


def test_calls_to_reach_and_mean_over_budget_by_hand():
    labels, errors = [10, 20, 40], [100.0, 60.0, 30.0]
    assert calls_to_reach(labels, errors, 100.0) == 10.0
    assert calls_to_reach(labels, errors, 80.0) == pytest.approx(15.0)
    assert calls_to_reach(labels, errors, 45.0) == pytest.approx(30.0)
    assert calls_to_reach(labels, errors, 10.0) is None
    assert mean_over_budget(labels, errors) == pytest.approx(
        (0.5 * 160 * 10 + 0.5 * 90 * 20) / 30
    )


def test_the_page_renders_in_a_browser_with_every_figure(finished):
    if browser() is None:
        pytest.skip("no chromium/chrome on PATH (Debian: apt install chromium)")
    *_, out, _ = finished
    dom, console = render_in_browser(out / "benchmark.html")
    assert console == []
    assert not re.search(r"(src|href)=['\"]?https?:", dom)  # self-contained
    for name in ("curves", "robust", "ratios", "sigma"):
        assert f'id="fig-{name}"' in dom
    for name in ("diversity-pca", "diversity-bonds", "diversity-motion"):
        assert f'id="fig-{name}"' in dom
    assert dom.count("<svg") >= 4 and "Ranking" in dom and "md-random" in dom


def test_mistakes_in_the_benchmark_file_are_named_together(tmp_path):
    bad = {
        **BENCH,
        "variants": [
            {"name": "md"},
            {"name": "md"},
            {"name": "x", "scheme": "warp"},
            {"name": "y", "scheme": "advb_md", "params": {"alpah": 1.0}},
            {"name": "z", "scheme": "md", "selection": {"rule": "best"}},
            {"name": "w", "scheme": "md", "bias": {"gamma": 1.0}},
        ],
        "reference": "ce",
    }
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError) as error:
        load_benchmark(path)
    # one line per problem, each naming the file first
    prefix = f"{path}: "
    assert all(line.startswith(prefix) for line in str(error.value).splitlines())
    lines = [line[len(prefix) :] for line in str(error.value).splitlines()]
    assert lines[0] == "variants: name 'md' used twice"
    assert lines[1].startswith("reference: 'ce' is not a variant")
    assert lines[2].startswith("variants[2] (x).scheme: unknown scheme 'warp'")
    assert lines[3].startswith("variants[3] (y).params.alpah: unknown key; allowed:")
    assert lines[4] == (
        "variants[4] (z).selection.rule: unknown selection rule 'best'; allowed: "
        "max_sigma, random, trust_window"
    )
    assert lines[5] == (
        "variants[5] (w).bias.gamma: unknown key; allowed: alpha, alpha_relative, "
        "alpha_smoothing"
    )
    result = CliRunner().invoke(app, ["benchmark", str(path)])
    assert result.exit_code == 2 and "error:" in result.output
    assert "Traceback" not in result.output
    np.testing.assert_equal(len(lines), 6)


def test_a_stopping_rule_in_the_base_campaign_is_refused_not_ignored(tmp_path):
    bad = {**BENCH, "campaign": {**BENCH["campaign"], "stop": {"improvement": 0.05}}}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=r"campaign\.stop: a benchmark runs every"):
        load_benchmark(path)


def test_a_user_test_file_is_a_frozen_set_and_can_rank(finished):
    bench, base, store, results, out, _ = finished
    assert all(
        f.tests["test_file"].all.count == 3 for c in results.curves for f in c.final
    )
    assert all(
        f.tests["test_file"].by_source.keys() == {"test_file"}
        for c in results.curves
        for f in c.final
    )
    by_file = collect(store, bench.model_copy(update={"rank_set": "test_file"}), base)
    assert (
        by_file.rank_set == "test_file"
        and "on the frozen test_file set" in by_file.text()
    )
    final = {s.variant: s.final_force_rmse for s in by_file.summaries}
    assert final["md-random"] == [
        c.final[-1].errors("test_file").force_rmse_meV_A
        for c in results.curves
        if c.variant == "md-random"
    ]
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            str(out.parent / "bench.yaml"),
            "--no-run",
            "--rank-set",
            "everything",
        ],
    )
    assert (
        result.exit_code == 2
        and "--rank-set: 'everything' is not a frozen set" in result.output
    )


class _Stop(Exception):
    pass


def test_an_interrupted_benchmark_resumes_to_the_same_store(finished, tmp_path):
    from hyperal.runs.progress import StageKind

    bench, base, store, results, *_ = finished
    again = bench.model_copy(update={"store": str(tmp_path / "again.db")})
    seen = []

    def stop_in_loop_2(report):  # stops in the middle of a variant's loop 2
        if report.kind is StageKind.EVOLVE and report.loop == 2:
            seen.append(report)
            if len(seen) == 3:
                raise _Stop

    with pytest.raises(_Stop):
        Benchmark(again, base, stop_in_loop_2).run()
    partial = Store(again.store)
    assert not partial.final("r0.relax")  # stopped before the final evaluation
    Benchmark(again, base).run()
    resumed = Store(again.store)

    def labels(s):
        return sorted(
            (row.name, round(row.energy, 10)) for row in s.db.select(oracle_status="ok")
        )

    assert labels(resumed) == labels(store)  # the same labels, none twice
    assert resumed.oracle_calls() == store.oracle_calls()
    assert collect(resumed, again, base).text() == results.text()


def test_robustness_sets_are_evaluated_per_stratum_and_force_bin(finished):
    bench, base, store, results, out, _ = finished
    for curve in results.curves:
        for final in curve.final:
            robust = final.tests["robust"]
            assert robust.by_source.keys() == {"vacancy", "hydro"}
            assert robust.all.count == 4
            # every atom in exactly one bin of reference |F|
            assert sum(b.atoms for b in robust.force_bins) == 2 * 31 + 2 * 32
            edges = [(b.lower_eV_A, b.upper_eV_A) for b in robust.force_bins]
            assert edges == sorted(edges)
    page = (out / "benchmark.html").read_text()
    assert "<h3>robust</h3>" in page and "vacancy (2) F RMSE" in page


def test_the_capped_difficult_set_holds_the_structures_within_the_limits(finished):
    bench, base, store, results, *_ = finished
    from hyperal.benchmark.run import within_limits

    for r in range(2):
        difficult = store.labelled(split="difficult", runs=[f"r{r}.shared"])
        by_hand = [
            a
            for a in difficult
            if np.linalg.norm(reference(a).forces, axis=1).max()
            < base.selection.max_force_eV_A
            and min(
                a.get_distance(i, j, mic=True) for i in range(len(a)) for j in range(i)
            )
            > base.selection.min_distance_A
        ]
        assert len(within_limits(difficult, base.selection)) == len(by_hand)
        final = store.final(f"r{r}.relax")[-1]
        if by_hand:
            assert final.sizes["difficult_capped"] == len(by_hand)


def test_a_union_of_sets_ranks_with_its_exact_combined_error(finished):
    bench, base, store, results, *_ = finished
    union = collect(
        store, bench.model_copy(update={"rank_set": ["test_file", "robust"]}), base
    )
    assert union.rank_set == "test_file+robust"
    # the combined RMSE equals the RMSE over the concatenated structures
    from hyperal.structures.io import read_labelled

    images = read_labelled(bench.test_file) + read_labelled(
        bench.test_sets["robust"], source="robust"
    )
    refs = [reference(a) for a in images]
    labelled = [Labelled(r.energy, r.forces, "x") for r in refs]
    again = summarise(
        labelled,
        predict(str(store.checkpoint_path(LOOPS, "r0.twin")), images),
        seed=0,
    )
    by = {s.variant: s for s in union.summaries}
    assert by["twin"].final_force_rmse[0] == pytest.approx(
        again.all.force_rmse_meV_A, rel=1e-9
    )
    assert by["twin"].final_energy_rmse[0] == pytest.approx(
        again.all.energy_rmse_meV_atom, rel=1e-9
    )


def test_the_primary_verdict_comes_first_recomputed_from_the_committees(finished):
    from hyperal.benchmark.primary import primary_result, structure_errors
    from hyperal.structures.io import read_labelled

    bench, base, store, results, out, output = finished
    primary = results.primary
    # printed first, everything after it labelled exploratory
    head, _, rest = output.partition("EXPLORATORY")
    assert "PRIMARY (declared in the file): stratum_balanced on robust" in head
    assert "ranking by final force RMSE" in rest and "ranking" not in head
    assert "per-stratum force RMSE differences on robust" in rest
    # the measure recomputed from the final committees' own predictions:
    # per stratum the RMSE over its structures' force components, then the
    # plain mean over strata
    images = read_labelled(bench.test_sets["robust"], source="robust")
    strata = sorted({a.info["source"] for a in images})
    for c in primary.comparisons:
        for variant, values in ((c.variant, c.mine), (c.other, c.theirs)):
            for r in range(bench.replicates):
                preds = predict(
                    str(store.checkpoint_path(LOOPS, f"r{r}.{variant}")), images
                )
                per_stratum = [
                    np.sqrt(
                        np.mean(
                            np.concatenate(
                                [
                                    (p.forces - reference(a).forces).ravel() ** 2
                                    for a, p in zip(images, preds, strict=True)
                                    if a.info["source"] == s
                                ]
                            )
                        )
                    )
                    for s in strata
                ]
                assert values[r] == pytest.approx(1e3 * np.mean(per_stratum), rel=1e-9)
        assert c.interval.mean == pytest.approx(np.mean(c.mine) - np.mean(c.theirs))
        # two replicates: the smallest sign-flip p is 2/4
        assert c.p_sign >= 0.5 and c.verdict == "no detectable difference"
    # the twin explores exactly as relax does: identical committees
    twin = primary.comparisons[1]
    assert twin.mine == twin.theirs and twin.bootstrap == (0.0, 0.0)
    # Holm over the two declared comparisons, then over comparison x stratum
    assert len(primary.per_stratum) == 2 * len(strata)
    assert primary.strata == {"hydro": 2, "vacancy": 2}
    rows = (out / "primary.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 and rows[1].startswith("relax,md-random,stratum_balanced")
    # the worst-stratum measure on the same data: one ratio per stratum with
    # a simultaneous interval holding it
    worst = primary_result(
        structure_errors(results.curves, "robust"),
        [("relax", "md-random")],
        measure="worst_stratum",
        test_set="robust",
        draws=400,
    ).comparisons[0]
    assert [r.stratum for r in worst.ratios] == strata
    for r in worst.ratios:
        assert r.low <= r.ratio <= r.high
    assert worst.worst.ratio == max(r.ratio for r in worst.ratios)
    assert "per-stratum force RMSE ratio" in worst.text()


def test_a_primary_section_names_its_mistakes(tmp_path):
    path = tmp_path / "bench.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                **BENCH,
                "primary": {
                    "measure": "median",
                    "test_set": "nowhere",
                    "comparisons": ["relax vs ghost", "relax-md"],
                },
            }
        )
    )
    with pytest.raises(ConfigError) as info:
        load_benchmark(path)
    message = str(info.value)
    assert "primary.measure" in message
    assert "primary.comparisons: 'relax-md': write 'variant vs other'" in message
    path.write_text(
        yaml.safe_dump(
            {
                **BENCH,
                "primary": {"test_set": "nowhere", "comparisons": ["relax vs ghost"]},
            }
        )
    )
    with pytest.raises(ConfigError) as info:
        load_benchmark(path)
    message = str(info.value)
    assert "primary.test_set: 'nowhere' is not a frozen set" in message
    assert "primary.comparisons[0]: 'ghost' is not a variant" in message


def test_every_variant_is_compared_paired_with_the_reference_and_the_control(
    finished,
):
    bench, base, store, results, out, output = finished
    assert results.control == "md-random"
    made = {(c.variant, c.other, c.metric): c for c in results.comparisons}
    # the reference's: twin and md-random; the control's: twin (relax vs
    # md-random is made once, as md-random vs relax); two figures each
    assert set(made) == {
        (v, o, m)
        for v, o in (("twin", "relax"), ("md-random", "relax"), ("twin", "md-random"))
        for m in ("final", "over budget")
    }
    by = {s.variant: s for s in results.summaries}
    c = made["md-random", "relax", "final"]
    assert c.differences == pytest.approx(
        [
            a - b
            for a, b in zip(
                by["md-random"].final_force_rmse,
                by["relax"].final_force_rmse,
                strict=True,
            )
        ]
    )
    assert c.interval.n == 2 and c.interval.low <= c.interval.mean <= c.interval.high
    # identical committees: a zero difference, no detectable difference
    twin = made["twin", "relax", "final"]
    assert (
        twin.differences == (0.0, 0.0)
        and twin.verdict == "identical in every replicate"
    )
    rows = (out / "comparisons.csv").read_text().splitlines()
    assert len(rows) == 1 + 6 and rows[0].startswith("variant,other,role,metric")
    assert "paired comparisons on the difficult force RMSE" in output
    assert "Paired verdicts" in (out / "benchmark.html").read_text()


def test_an_unreadable_test_file_is_named_at_load(tmp_path):
    garbage = tmp_path / "test.extxyz"
    garbage.write_bytes(bytes(range(256)) * 4)
    path = tmp_path / "bench.yaml"
    path.write_text(
        yaml.safe_dump(
            {**BENCH, "store": str(tmp_path / "b.db"), "test_file": "test.extxyz"}
        )
    )
    with pytest.raises(ConfigError) as error:
        load_benchmark(path)
    assert f"test_file: {garbage}: cannot be read as structures" in str(error.value)


def test_a_variant_gives_its_bias_typed_or_by_registry_name(tmp_path):
    """``{scheme: md, bias: {alpha: 2}}`` runs what ``{scheme: advb_md,
    params: {alpha: 2}}`` runs; a family's adaptive-α keys in
    ``scheme_params`` reach its biased twin, not the plain scheme."""
    data = {
        **BENCH,
        "store": str(tmp_path / "bench.db"),
        "scheme_params": {"md": {"alpha_relative": 0.3, "temperature_K": 500}},
        "variants": [
            {"name": "typed", "scheme": "md", "bias": {"alpha": 2.0}},
            {"name": "alias", "scheme": "advb_md", "params": {"alpha": 2.0}},
            {"name": "md"},
        ],
        "reference": "md",
    }
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    bench, base = load_benchmark(path)
    typed, alias, plain = (v.scheme for v in bench.variants_of(base))
    assert typed.full_name == alias.full_name == "advb_md"
    assert (
        typed.given_params
        == alias.given_params
        == {
            "alpha": 2.0,
            "alpha_relative": 0.3,
            "temperature_K": 500.0,
        }
    )
    assert plain.full_name == "md" and plain.given_params == {"temperature_K": 500.0}
    assert typed.steps == base.scheme.steps == 8


def test_a_variant_runs_its_selection_resolved_against_the_campaign(tmp_path):
    """A variant's selection is the campaign's with its own keys changed,
    typed once: a variant that changes nothing runs the campaign's rule, so
    a campaign selecting at random makes it the control; one that changes
    the score keeps the campaign's other keys; its campaign carries the
    typed scheme and that selection."""
    campaign = {
        **BENCH["campaign"],
        "selection": {"rule": "random", "max_force_eV_A": 20.0},
    }
    data = {
        **BENCH,
        "campaign": campaign,
        "store": str(tmp_path / "bench.db"),
        "variants": [
            {
                "name": "md",
                "selection": {"rule": "max_sigma", "score": "force_magnitude"},
            },
            {"name": "md-plain", "scheme": "md"},
        ],
        "reference": "md",
    }
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    bench, base = load_benchmark(path)
    scored, plain = bench.variants_of(base)
    assert scored.selection.rule == "max_sigma"
    assert scored.selection.score == "force_magnitude"
    assert scored.selection.max_force_eV_A == 20.0  # the campaign's, kept
    assert plain.selection.rule == "random" and not plain.rule.uses_score
    assert bench.control_variant(base) == "md-plain"
    run = plain.campaign(base, seed=7, store=bench.store)
    assert run.seed == 7 and run.scheme is plain.scheme
    assert run.selection == plain.selection and run.scheme.steps == 8
    # the store's fingerprint records each variant as the file declares it
    assert Benchmark(bench, base).fingerprint()["variants"]["md-plain"] == {
        "name": "md-plain",
        "scheme": "md",
        "bias": None,
        "params": {},
        "steps": None,
        "selection": {},
    }
