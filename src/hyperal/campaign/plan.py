"""The oracle calls a campaign file implies (``hyperal plan``), built from
the same starts the campaign builds — pure functions of the file and its
seed — so the sizes are the run's own."""

from __future__ import annotations

from hyperal.campaign.config import CampaignConfig
from hyperal.campaign.starts import initial_starts, loop_starts
from hyperal.runs.plan import Plan, PlanStage, Workers
from hyperal.runs.records import MAIN_RUN, Split


def loop0_stages(cfg: CampaignConfig, run: str = MAIN_RUN) -> list[PlanStage]:
    """Loop 0: one oracle relaxation per initial start, at most
    ``relax_steps + 1`` calls each (every ionic step a label; fewer when it
    converges), the training starts and the gentle test set apart."""
    starts = initial_starts(cfg)
    steps = cfg.initial.relax_steps + 1
    stages = []
    for split, what in ((Split.TRAIN, "training"), (Split.GENTLE, "gentle set")):
        mine = [s for s in starts if s.split == split]
        if mine:
            stages.append(
                PlanStage(
                    0,
                    f"oracle relaxations, {what} (≤ {steps} calls each)",
                    tuple(steps for _ in mine),
                    tuple(len(s.atoms) for s in mine),
                    exact=False,
                    run=run,
                )
            )
    return stages


def difficult_stage(cfg: CampaignConfig, loop: int, run: str = MAIN_RUN):
    """Loop ``loop``'s difficult starts: each labelled once, as it is."""
    mine = [s for s in loop_starts(cfg, loop) if s.split == Split.DIFFICULT]
    if not mine:
        return None
    return PlanStage(
        loop,
        "difficult set (starts labelled as they are)",
        tuple(1 for _ in mine),
        tuple(len(s.atoms) for s in mine),
        run=run,
    )


def selected_stage(cfg: CampaignConfig, loop: int, run: str = MAIN_RUN):
    """Loop ``loop``'s evolved starts: at most one selected frame labelled
    per trajectory (none when every frame is beyond the selection limits);
    an evolution keeps its atoms, so each label's size is its start's."""
    mine = [s for s in loop_starts(cfg, loop) if s.split == Split.NONE]
    if not mine:
        return None
    return PlanStage(
        loop,
        f"selected frames ({cfg.scheme.name}, ≤ 1 per trajectory)",
        tuple(1 for _ in mine),
        tuple(len(s.atoms) for s in mine),
        exact=False,
        run=run,
    )


def campaign_plan(cfg: CampaignConfig, cores_per_call: int | None = None) -> Plan:
    """Every oracle call of ``cfg``: loop 0's relaxations, then per loop the
    difficult starts and the selected frames."""
    stages = loop0_stages(cfg)
    for loop in range(1, cfg.loops + 1):
        stages += [
            s
            for s in (difficult_stage(cfg, loop), selected_stage(cfg, loop))
            if s is not None
        ]
    notes = [
        "no oracle call after the last loop: the final evaluation predicts with "
        "the committees on labels already paid",
    ]
    if cfg.stop.improvement or cfg.stop.force_sigma_eV_A:
        notes.append(
            "a stopping rule is set: the campaign may end before its last loop, "
            "and cost less"
        )
    return Plan("campaign", stages, Workers.of(cfg.executor, cores_per_call), notes)
