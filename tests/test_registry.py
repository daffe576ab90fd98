"""One registry per axis of variation: the registry itself, and for the
executor and rule axes, every entry through its conformance check plus a toy
entry registered by a test and used end to end — a new entry is one module
and its registration."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from hyperal.campaign import Campaign, parse_config
from hyperal.campaign.config import SelectionConfig
from hyperal.evolve import RULES, Rule, register_rule, select_frame
from hyperal.evolve.md import MDEvolver
from hyperal.evolve.scores import SCORES
from hyperal.models import BACKENDS
from hyperal.oracle import ORACLES
from hyperal.registry import Registry, UnknownName
from hyperal.runs.executors import EXECUTORS, ExecutorType
from hyperal.runs.sections import ExecutorConfig
from hyperal.testing import check_executor
from tests.campaign.conftest import tiny
from tests.helpers import assert_same_rows, store_rows


def test_a_registry_names_what_it_holds_and_refuses_a_second_entry():
    registry = Registry("colour", {"red": 1})
    registry.register("blue", 2)
    assert list(registry) == ["red", "blue"] and len(registry) == 2
    assert registry["blue"] == 2 and registry.get("green") is None
    assert "red" in registry and "green" not in registry
    with pytest.raises(UnknownName) as error:
        registry["green"]
    assert str(error.value) == "unknown colour 'green'; allowed: red, blue"
    # a KeyError for mapping code, a ValueError for settings validators
    assert isinstance(error.value, KeyError) and isinstance(error.value, ValueError)
    with pytest.raises(ValueError, match="colour 'red' is registered already"):
        registry.register("red", 3)
    assert registry.register("red", 3, replace=True) == 3
    assert registry.unregister("red") == 3 and "red" not in registry
    with pytest.raises(ValueError, match="non-empty name"):
        registry.register("", 4)


def test_every_axis_is_a_registry():
    for registry in (SCORES, RULES, EXECUTORS, BACKENDS, ORACLES):
        assert isinstance(registry, Registry) and len(registry) >= 2


@pytest.mark.parametrize("kind", ["inprocess", "process", "dask"])
def test_every_local_executor_kind_passes_its_conformance_check(kind):
    if kind == "dask":
        pytest.importorskip("dask.distributed")
    section = {} if kind == "inprocess" else {"workers": 2}
    assert check_executor(kind, section) == [
        "section",
        "pools",
        "results",
        "errors",
        "sizes",
    ]


def test_the_conformance_check_catches_a_pool_that_mixes_up_results(monkeypatch):
    class Mixed(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            return super().submit(fn, *(a + 1 for a in args), **kwargs)

    _register_threads(monkeypatch, Mixed)
    with pytest.raises(AssertionError, match="results: the tasks pool paired"):
        check_executor("threads", {"workers": 2})


def _register_threads(monkeypatch, pool=ThreadPoolExecutor) -> None:
    """A toy kind: a thread pool of ``workers`` in this process."""
    kind = ExecutorType(
        "threads",
        "a thread pool of `workers` in this process (a test's toy)",
        open=lambda workers, address, threads: pool(max_workers=workers),
        keys=("workers",),
        label_workers=lambda s: (s.workers, 1, f"{s.workers} threads"),
    )
    monkeypatch.setattr(EXECUTORS, "_entries", {**EXECUTORS._entries})
    EXECUTORS.register("threads", kind)


def test_a_new_executor_kind_is_one_registration(tmp_path, monkeypatch):
    """A thread-pool kind registered by this test: the file accepts it, it
    passes the conformance check, and a campaign runs on it to the rows of
    the in-process run."""
    with pytest.raises(ValueError, match="unknown executor kind 'threads'"):
        ExecutorConfig(kind="threads")
    _register_threads(monkeypatch)
    assert check_executor("threads", {"workers": 2})[-1] == "sizes"
    with pytest.raises(ValueError, match="address: only for kind dask"):
        ExecutorConfig(kind="threads", address="tcp://x:1")
    data = tiny(tmp_path, loops=1, executor={"kind": "threads", "workers": 2})
    metrics = Campaign(parse_config(data)).run()
    assert [m.pool_time.workers for m in metrics] == [2, 2]
    assert all(m.pool_time.counted == "configured" for m in metrics)
    (tmp_path / "ref").mkdir()
    strict = tiny(
        tmp_path / "ref",
        loops=1,
        executor={"kind": "inprocess", "background_labels": False},
    )
    Campaign(parse_config(strict)).run()
    assert_same_rows(store_rows(data["store"]), store_rows(strict["store"]))


@pytest.fixture(scope="module")
def trajectory():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=3)
    result = MDEvolver(calculator=EMT(), temperature_K=600, timestep_fs=2.0, rng=4).run(
        atoms, steps=12
    )
    return result.frames


def test_every_rule_orders_exactly_the_qualified_frames(trajectory):
    scores = np.linspace(0.0, 1.0, len(trajectory))[::-1]  # the earliest largest
    for name, rule in RULES.items():
        chosen = select_frame(trajectory, rule=name, scores=scores, rng=5)
        assert chosen.selected, name
        # every frame qualifies here: the rule orders them all, its first chosen
        assert sorted(chosen.ranked) == list(range(len(trajectory))), name
        assert chosen.index == chosen.ranked[0], name
        assert rule.note in chosen.reason, name
        if rule.ranks_by_score:
            assert list(chosen.ranked) == sorted(
                chosen.ranked, key=lambda k: -scores[k]
            )


def test_a_new_rule_is_one_registration(trajectory, monkeypatch):
    """A toy rule, the latest qualified frame first: the file accepts it and
    selection follows it; a batch refuses it (it does not rank by score)."""
    with pytest.raises(ValueError, match="unknown selection rule 'latest'"):
        SelectionConfig(rule="latest")
    monkeypatch.setattr(RULES, "_entries", {**RULES._entries})
    register_rule(
        Rule(
            "latest",
            "the latest physical frame (a test's toy)",
            lambda qualified, scores, rng: sorted(qualified, reverse=True),
            note=" (the latest)",
        )
    )
    assert SelectionConfig(rule="latest").rule == "latest"
    chosen = select_frame(trajectory, rule="latest", scores=np.ones(len(trajectory)))
    assert chosen.index == len(trajectory) - 1 and "(the latest)" in chosen.reason
    with pytest.raises(ValueError, match="ranks by the score"):
        SelectionConfig(rule="latest", batch=True)
