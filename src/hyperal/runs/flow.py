"""Tasks in flight, handled by the coordinator as they land.

A loop's work is a stream, not a sequence of waves: each label is submitted
the moment its evolution returns a frame, the difficult set's labels fill
the gaps, and the next loop's difficult labels run while the committee fits.
:class:`Flow` is what lets one coordinator thread do that over any
``concurrent.futures`` executor: a stage *watches* a future with a handler
(record a label, count it, report progress), and whenever the coordinator
waits — for an evolution, a fit, a prediction, or a group of labels — every
watched future that lands meanwhile is handled at once, in the coordinator's
thread, so results are written by one writer as they arrive and a label
that lands during a fit is stored before the fit ends.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from typing import Any

from hyperal.runs.executors import InProcessExecutor, call


@dataclass
class Counter:
    """Progress of a group of watched tasks (the labels of one split of one
    loop): how many were submitted and how many have been handled."""

    handled: int = 0
    submitted: int = 0


class Flow:
    """The coordinator's registry of watched futures and their handlers
    (one per run: its labels are known by their row in the run's store)."""

    def __init__(self) -> None:
        self._handlers: dict[Future, Callable[[Future], None]] = {}
        self._counters: dict[Hashable, Counter] = {}
        #: Label futures not landed yet, by store row id: a row is never
        #: submitted twice.
        self.labels_in_flight: dict[int, Future] = {}
        #: Where the current window of the pools' time began (wall-clock s
        #: since the epoch): the pools' start, then each loop's end
        #: (:func:`hyperal.runs.stages.pool_time`).
        self.since = time.time()

    def counter(self, key: Hashable) -> Counter:
        """The :class:`Counter` of a group of watched tasks (the labels of one
        split of one loop), for progress reports."""
        return self._counters.setdefault(key, Counter())

    def watch(self, future: Future, handler: Callable[[Future], None]) -> Future:
        """Handle ``future`` with ``handler(future)`` in the coordinator's
        thread once it has landed (the next time the coordinator waits or
        polls). A handler that raises ends the wait with that error."""
        self._handlers[future] = handler
        return future

    @property
    def in_flight(self) -> int:
        """Watched futures not handled yet."""
        return len(self._handlers)

    def _handle(self, done: Iterable[Future]) -> None:
        for future in done:
            handler = self._handlers.pop(future, None)
            if handler is not None:
                handler(future)

    def poll(self) -> None:
        """Handle every watched future that has landed; never blocks."""
        self._handle([f for f in list(self._handlers) if f.done()])

    def _wait_once(self, timeout: float | None = None) -> None:
        """Block until at least one watched future lands (or ``timeout``
        seconds pass); handle those."""
        done, _ = wait(list(self._handlers), timeout, return_when=FIRST_COMPLETED)
        self._handle(done)

    def wait(self, futures: Iterable[Future]) -> None:
        """Handle landings until every one of ``futures`` has been handled
        (others landing meanwhile are handled too)."""
        wanted = set(futures)
        self.poll()
        while wanted & self._handlers.keys():
            self._wait_once()

    def drain(self) -> None:
        """Handle every watched future: wait until nothing is in flight."""
        while self._handlers:
            self._wait_once()

    def completed(
        self,
        executor: Executor,
        calls: Iterable[tuple[Hashable, Callable, tuple | Mapping[str, Any]]],
        *,
        then: Callable[[], object] | None = None,
        tick: Callable[[], object] | None = None,
        every_s: float = 2.0,
    ) -> Iterator[tuple[Hashable, Any]]:
        """Run ``fn(*args)`` (``fn(**args)`` for a mapping) for every
        ``(key, fn, args)`` on ``executor`` and yield ``(key, result)`` as
        each lands, handling the other watched futures meanwhile (as
        :func:`completed`, which has nothing else to handle).
        ``then()`` is called once every call is submitted — to start work
        that overlaps them without queueing ahead of them. ``tick()`` is
        called at least every ``every_s`` seconds while the calls run on a
        pool (to show how a long task is going).

        In process the calls run one by one (``then()`` before the first),
        the landed background work handled between them."""
        if isinstance(executor, InProcessExecutor):
            if then is not None:
                then()
            for key, fn, args in calls:
                self.poll()
                yield key, call(fn, args)
            return
        landed: deque[Future] = deque()
        keys = {}
        for key, fn, args in calls:
            future = (
                executor.submit(fn, **args)
                if isinstance(args, Mapping)
                else executor.submit(fn, *args)
            )
            keys[future] = key
            self.watch(future, landed.append)
        if then is not None:
            then()
        while keys:
            if not landed:
                self._wait_once(None if tick is None else every_s)
                if tick is not None:
                    tick()
            while landed:
                future = landed.popleft()
                yield keys.pop(future), future.result()


def completed(
    executor: Executor,
    calls: Iterable[tuple[Hashable, Callable, tuple | Mapping[str, Any]]],
) -> Iterator[tuple[Hashable, Any]]:
    """Run ``fn(*args)`` for every ``(key, fn, args)`` — ``fn(**args)`` when
    ``args`` is a mapping of keywords, as every task of more than a few
    arguments is called — and yield ``(key, result)`` as each finishes, so
    the caller can persist it at once: :meth:`Flow.completed` with nothing
    else in flight.

    In process (:class:`~hyperal.runs.executors.InProcessExecutor`) the
    calls run one by one, each yielded before the next starts; other
    executors get every call submitted up front and yield in completion
    order.
    """
    return Flow().completed(executor, calls)
