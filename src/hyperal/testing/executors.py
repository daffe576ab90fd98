"""``check_executor``: the conformance check every executor kind must pass.

What the runner relies on of a kind of :data:`hyperal.runs.executors.EXECUTORS`,
checked on a real section of a run file, raising ``AssertionError`` naming
the failed check:

- ``section``: the executor section with ``kind`` and the given keys
  validates, and a key the kind does not read, set, is refused naming it;
- ``pools``: :meth:`~hyperal.runs.executors.ExecutorType.open_pools` yields
  two executors (tasks, labels) and closes them on exit;
- ``results``: tasks submitted side by side come back, each result paired
  with its own arguments (a module-level function, pickled like the
  campaign's tasks);
- ``errors``: a task's exception is delivered through its future, and the
  pool keeps working after it;
- ``sizes``: the worker count is a positive integer or None (counted as
  seen), and the label workers a positive count of calls and cores with a
  description.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hyperal.runs.executors import EXECUTORS, ExecutorType
from hyperal.runs.sections import ExecutorConfig


def _check(condition: bool, name: str, detail: str) -> None:
    if not condition:
        raise AssertionError(f"check_executor: {name}: {detail}")


def _fails(value: int) -> int:
    raise ValueError(f"task failed on purpose ({value})")


#: keys some kind reads, with a value that is not their default
_PROBES = {"workers": 3, "address": "tcp://elsewhere:8786", "cores": 3}


def _section(entry: ExecutorType, section: dict[str, Any]) -> ExecutorConfig:
    config = ExecutorConfig(kind=entry.name, **section)
    unread = [k for k in _PROBES if k not in entry.keys and k not in section]
    if unread:  # a key the kind does not read, set: refused, naming it
        key = unread[0]
        try:
            ExecutorConfig(kind=entry.name, **section, **{key: _PROBES[key]})
        except ValueError as exc:
            _check(key in str(exc), "section", f"refusal does not name {key}: {exc}")
        else:
            _check(False, "section", f"{key} set on kind {entry.name} was accepted")
    return config


def _pools(entry: ExecutorType, config: ExecutorConfig) -> None:
    with entry.open_pools(config) as (tasks, labels):
        for executor, what in ((tasks, "tasks"), (labels, "labels")):
            _check(
                callable(getattr(executor, "submit", None)),
                "pools",
                f"the {what} pool is not an executor: {executor!r}",
            )
        for executor, what in ((tasks, "tasks"), (labels, "labels")):
            futures = {n: executor.submit(math.factorial, n) for n in range(12)}
            got = {n: f.result(timeout=120) for n, f in futures.items()}
            _check(
                got == {n: math.factorial(n) for n in range(12)},
                "results",
                f"the {what} pool paired results with the wrong tasks: {got}",
            )
            failed = executor.submit(_fails, 7)
            try:
                failed.result(timeout=120)
            except ValueError as exc:
                _check("(7)" in str(exc), "errors", f"another error came back: {exc}")
            else:
                _check(False, "errors", "a failing task returned a result")
            _check(
                executor.submit(math.factorial, 5).result(timeout=120) == 120,
                "errors",
                f"the {what} pool stopped working after a failed task",
            )


def _sizes(entry: ExecutorType, config: ExecutorConfig) -> None:
    size = entry.size(config)
    _check(
        size is None or (isinstance(size, int) and size >= 1),
        "sizes",
        f"size {size!r} is neither None nor a positive integer",
    )
    calls, cores, words = entry.label_workers(config)
    _check(
        calls >= 1 and cores >= 1 and bool(words),
        "sizes",
        f"label workers ({calls}, {cores}, {words!r}) are not positive and described",
    )


EXECUTOR_CHECKS: dict[str, Callable[[ExecutorType, ExecutorConfig], None]] = {
    "pools": _pools,
    "sizes": _sizes,
}
"""The checks of an opened section, by name, in the order
:func:`check_executor` runs them (``section``, ``results`` and ``errors``
are checked on the way)."""


def check_executor(kind: str, section: dict[str, Any] | None = None) -> list[str]:
    """Run the conformance checks on the executor kind ``kind`` with the
    executor ``section`` (its keys beyond ``kind``; default: the kind's
    defaults) and return the names of the checks passed. A kind that cannot
    run on this machine (its ``problem``) raises RuntimeError saying why."""
    entry = EXECUTORS[kind]
    problem = entry.problem()
    if problem:
        raise RuntimeError(problem)
    config = _section(entry, dict(section or {}))
    for check in EXECUTOR_CHECKS.values():
        check(entry, config)
    return ["section", "pools", "results", "errors", "sizes"]
