"""The oracle calls a barrier campaign file implies (``hyperal plan``).

Loop 0 is the oracle's own saddle searches (or labels imported from a
campaign's store, no call): how many calls a search takes — its end-point
relaxations, dimer or NEB, connection check — is decided by the landscape,
not bounded beforehand by any one setting, so a search counts as the three
labels it keeps at least (start, saddle, end). Each later loop labels at most
two structures per committee search: the saddle and the committee's relaxed
start (the energy rule), or the start and the collapse frame of a search that
fell into a hole; and, where hops are chosen by a score, the start of each
tail test hop set aside (one label each).
"""

from __future__ import annotations

from hyperal.barriers.config import BarrierConfig
from hyperal.barriers.hops import draw_hops
from hyperal.barriers.tasks import RUN
from hyperal.runs.plan import Plan, PlanStage, Workers

#: The labels an oracle saddle search keeps at least: start, saddle, end.
SEARCH_FLOOR = 3


def barrier_plan(cfg: BarrierConfig, cores_per_call: int | None = None) -> Plan:
    stages = []
    notes = []
    if cfg.initial.from_campaign is not None:
        notes.append("loop 0 imports a campaign's labels: no oracle call")
    else:
        for what, n, stream in (
            ("training", cfg.initial.train, 1),
            ("random set", cfg.initial.random_set, 2),
        ):
            if n:
                hops = draw_hops(cfg, 0, n, stream)
                stages.append(
                    PlanStage(
                        0,
                        f"oracle saddle searches, {what} (≥ {SEARCH_FLOOR} calls each)",
                        tuple(SEARCH_FLOOR for _ in hops),
                        tuple(len(h) for h in hops),
                        exact=False,
                        run=RUN,
                        unbounded=True,
                    )
                )
        notes.append(
            "an oracle saddle search's calls are not bounded beforehand (loop 0 "
            "is a floor); on an existing store the paid line shows what they took"
        )
    chosen = cfg.selection
    n_test = 0
    if chosen.score != "none":  # as choose_hops sets the tail's test hops aside
        share = chosen.test_fraction
        n_test = int(round(share * cfg.starts / (1 - share)))
    for loop in range(1, cfg.loops + 1):
        hops = draw_hops(cfg, loop, cfg.starts + n_test, 0)
        stages.append(
            PlanStage(
                loop,
                "committee saddle searches' labels (≤ 2 each)",
                tuple(2 for _ in hops[: cfg.starts]),
                tuple(len(h) for h in hops[: cfg.starts]),
                exact=False,
                run=RUN,
            )
        )
        if n_test:
            stages.append(
                PlanStage(
                    loop,
                    "tail test hops (their starts labelled)",
                    tuple(1 for _ in hops[cfg.starts :]),
                    tuple(len(h) for h in hops[cfg.starts :]),
                    exact=False,
                    run=RUN,
                )
            )
    if chosen.score != "none":
        notes.append(
            "a loop's hops are the committee's choice among many drawn: their "
            "sizes here are those of hops drawn from the same stream"
        )
    return Plan(
        "barrier campaign", stages, Workers.of(cfg.executor, cores_per_call), notes
    )
