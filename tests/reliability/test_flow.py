"""The coordinator's flow of tasks: watched work that lands while the
coordinator waits for something else is handled at once, in its thread."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import pytest

from hyperal.runs.executors import InProcessExecutor
from hyperal.runs.flow import Flow


class Gated(Executor):
    """Runs each task in a thread that waits for its gate: the test decides
    the order in which tasks land."""

    def __init__(self):
        self.gates: dict[str, threading.Event] = {}
        self.pool = ThreadPoolExecutor(max_workers=8)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        gate = self.gates.setdefault(args[0], threading.Event())

        def gated():
            assert gate.wait(10)
            return fn(*args, **kwargs)

        return self.pool.submit(gated)

    def open(self, name: str) -> None:
        self.gates.setdefault(name, threading.Event()).set()


def echo(name):
    return name


def test_a_label_landing_during_an_evolution_is_handled_before_it_ends():
    flow, pool = Flow(), Gated()
    handled = []
    label = flow.watch(pool.submit(echo, "label"), lambda f: handled.append(f.result()))
    calls = [(k, echo, (k,)) for k in ("e1", "e2", "e3")]
    results = flow.completed(pool, calls)
    pool.open("label")
    label.exception(timeout=10)  # landed, not handled yet
    assert handled == []
    # the middle one lands first, then the first, then the last: each result
    # comes with its own key (not the first's or the last-submitted's)
    pool.open("e2")
    assert next(results) == ("e2", "e2")
    # the label landed first and was handled on the way
    assert handled == ["label"] and label.done()
    pool.open("e1")
    assert next(results) == ("e1", "e1")
    pool.open("e3")
    assert next(results) == ("e3", "e3")
    assert flow.in_flight == 0


def test_wait_handles_what_lands_meanwhile_and_raises_a_handlers_error():
    flow, pool = Flow(), Gated()
    seen = []
    first = flow.watch(pool.submit(echo, "a"), lambda f: seen.append(f.result()))
    other = flow.watch(pool.submit(echo, "b"), lambda f: seen.append(f.result()))
    pool.open("b")
    time.sleep(0.05)
    pool.open("a")
    flow.wait([first])
    assert sorted(seen) == ["a", "b"] and other.done()

    def fail(future):
        raise RuntimeError(f"cannot record {future.result()}")

    failing = flow.watch(pool.submit(echo, "c"), fail)
    pool.open("c")
    with pytest.raises(RuntimeError, match="cannot record c"):
        flow.wait([failing])


def test_in_process_tasks_run_in_turn_with_landed_work_handled_between():
    flow = Flow()
    landed: Future = Future()
    seen = []
    flow.watch(landed, lambda f: seen.append("label"))
    calls = iter([("e1", echo, ("e1",)), ("e2", echo, ("e2",))])
    results = flow.completed(InProcessExecutor(), calls)
    assert next(results) == ("e1", "e1") and seen == []
    landed.set_result(None)
    assert next(results) == ("e2", "e2") and seen == ["label"]


def test_a_log_gets_one_unwrapped_line_per_finished_task_with_an_estimate():
    import io

    from rich.console import Console

    from hyperal.cli.common import PlainProgress
    from hyperal.runs.progress import Progress, StageKind

    buffer = io.StringIO()
    now = [0.0]
    out = Console(file=buffer, width=40, soft_wrap=True, highlight=False)
    loops = []
    progress = PlainProgress(
        lambda p, console: loops.append(p.loop), out=out, clock=lambda: now[0]
    )
    for loop in (1, 2):
        progress(Progress(loop, StageKind.EVOLVE, 0, 4, message="ce"))
        for done in range(1, 5):
            now[0] += 10.0
            progress(Progress(loop, StageKind.EVOLVE, done, 4, message="ce"))
        progress(Progress(loop, StageKind.FIT, 0, 1, message="on 40 structures"))
        now[0] += 60.0
        progress(Progress(loop, StageKind.FITTED, 1, 1))
        progress(Progress(loop, StageKind.EVALUATED, 1, 1))
    lines = buffer.getvalue().splitlines()
    # 4 evolutions + fit started + fitted, per loop; the loop lines by callback
    assert len(lines) == 12 and loops == [1, 2]
    assert all(len(line) > 40 for line in lines)  # long, and never wrapped
    assert lines[0].startswith("loop 1 · evolving ce 1/4 · oracle failures 0")
    # loop 1: the stage's rate (10 s per evolution, 3 left); none when done
    assert lines[0].endswith("~0m30s left in loop")
    assert "left in loop" not in lines[3]
    # loop 2 also knows loop 1 took 100 s: the larger estimate wins
    assert lines[6].endswith("elapsed 1m50s (loop 0m10s) · ~1m30s left in loop")
