"""The oracle calls a benchmark file implies (``hyperal plan``): per
replicate, the shared run's loop 0 and difficult starts, labelled once, and
each variant's selected frames — the stages the campaign's plan counts,
on the configurations the benchmark runs."""

from __future__ import annotations

from hyperal.benchmark.config import BenchmarkConfig
from hyperal.benchmark.run import Benchmark, shared_run, variant_run
from hyperal.campaign.config import CampaignConfig
from hyperal.campaign.plan import difficult_stage, loop0_stages, selected_stage
from hyperal.runs.plan import Plan, Workers


def benchmark_plan(
    bench: BenchmarkConfig, base: CampaignConfig, cores_per_call: int | None = None
) -> Plan:
    """Every oracle call of the benchmark, in the order it runs them (loop 0
    of every replicate, then loop by loop)."""
    runner = Benchmark(bench, base)
    shared = {r: runner.shared_config(r) for r in range(bench.replicates)}
    stages = [s for r, cfg in shared.items() for s in loop0_stages(cfg, shared_run(r))]
    for loop in range(1, base.loops + 1):
        for r, cfg in shared.items():
            found = difficult_stage(cfg, loop, shared_run(r))
            stages += [found] if found else []
        for r in shared:
            for v in runner.variants:
                cfg = runner.variant_config(r, v)
                found = selected_stage(cfg, loop, variant_run(r, v.name))
                stages += [found] if found else []
    notes = [
        "a structure two runs both select is labelled once (the store's cache): "
        "the selected-frame counts are upper bounds",
        "`hyperal benchmark --trajectories` runs the oracle's own dynamics "
        "instead; it is not planned here",
    ]
    return Plan("benchmark", stages, Workers.of(base.executor, cores_per_call), notes)
