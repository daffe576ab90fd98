"""Run (or resume) a benchmark: the campaign's stages composed per replicate
and variant in one store.

Per replicate ``r`` (campaign seed + r) a run ``r<r>.shared`` holds what every
variant shares: loop 0 (the oracle relaxations, the gentle set and the first
committee) and each loop's difficult starts, labelled once. Each variant's run
``r<r>.<variant>`` then does the campaign's active loops on the same starts,
training on the shared initial data plus its own selected frames. A structure
two runs both need labelled (the same start frame chosen by two schemes) is
labelled once: the store's oracle cache. Loops go in order across all runs
(loop 1 of every variant, then loop 2 ...), so a stopped benchmark has
comparable partial results; each stage resumes like a campaign's. Tasks go
through the campaign's executor; the runs themselves follow one another.

Finally every checkpoint is evaluated on the same frozen test sets: the
gentle set, the union of every loop's difficult set and, when given, the
user's test file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from hyperal.benchmark.config import CAPPED, BenchmarkConfig
from hyperal.benchmark.variants import Variant
from hyperal.campaign.config import CampaignConfig
from hyperal.campaign.stages import (
    active_loop,
    final_evaluation,
    finished,
    frozen_test_sets,
    initial_loop,
    label_pending,
    write_starts,
)
from hyperal.evolve.select import beyond_limits
from hyperal.labels import reference
from hyperal.runs.fingerprint import fingerprint
from hyperal.runs.progress import Progress
from hyperal.runs.records import Split, Stage
from hyperal.runs.runner import RunPlan, open_run
from hyperal.structures.io import read_labelled


def shared_run(replicate: int) -> str:
    return f"r{replicate}.shared"


def variant_run(replicate: int, variant: str) -> str:
    return f"r{replicate}.{variant}"


@dataclass(frozen=True)
class Benchmark:
    """A benchmark of ``bench.variants`` on the campaign ``base``."""

    bench: BenchmarkConfig
    base: CampaignConfig
    progress: Callable[[Progress], None] = lambda report: None

    def seed(self, replicate: int) -> int:
        return self.base.seed + replicate

    def shared_config(self, replicate: int) -> CampaignConfig:
        return self.base.model_copy(
            update={"seed": self.seed(replicate), "store": self.bench.store}
        )

    @cached_property
    def variants(self) -> list[Variant]:
        """The variants, typed: each resolved against the base campaign."""
        return self.bench.variants_of(self.base)

    def variant_config(self, replicate: int, variant: Variant) -> CampaignConfig:
        return variant.campaign(self.base, self.seed(replicate), self.bench.store)

    def fingerprint(self) -> dict:
        """What decides the benchmark's data: the base campaign (less what
        never counts, see :mod:`hyperal.runs.fingerprint`), the scheme
        parameters and each variant as the file declares it. Replicates and
        variants may be added."""
        return {
            "campaign": fingerprint(self.base.model_dump(mode="json")),
            "scheme_params": self.bench.scheme_params,
            "variants": {
                v.name: v.model_dump(mode="json") for v in self.bench.variants
            },
        }

    def plan(self) -> RunPlan:
        """The benchmark as the runner sees it: replicates and variants may
        be added (or left out); what the variants both hold must agree."""
        return RunPlan(
            store=self.bench.store,
            what="benchmark",
            key="fingerprint:benchmark",
            fingerprint=self.fingerprint(),
            grows="variants",
            oracle=self.base.oracle,
            executor=self.base.executor,
            records={
                "benchmark": self.bench.model_dump(mode="json"),
                "campaign": self.base.model_dump(mode="json"),
            },
        )

    def run(self) -> None:
        """Run every loop of every replicate and variant not yet finished,
        then the final evaluation on the frozen test sets."""
        base, bench = self.base, self.bench
        with open_run(self.plan(), self.progress) as opened:
            context = opened.context
            replicates = range(bench.replicates)
            shared = {
                r: context(self.shared_config(r), shared_run(r)) for r in replicates
            }
            variants = {
                (r, v.name): context(
                    self.variant_config(r, v), variant_run(r, v.name), shared_run(r)
                )
                for r in replicates
                for v in self.variants
            }
            checkpoints = {}
            for r in replicates:
                first = finished(shared[r], 0) or initial_loop(shared[r])
                for v in self.variants:
                    checkpoints[r, v.name] = first
            for loop in range(1, base.loops + 1):
                for r in replicates:  # the shared difficult set, labelled once
                    write_starts(shared[r], loop)
                    label_pending(
                        shared[r], loop, stage=Stage.START, split=Split.DIFFICULT
                    )
                for key, ctx in variants.items():
                    checkpoints[key] = finished(ctx, loop) or active_loop(
                        ctx, loop, checkpoints[key]
                    )
            user = user_test_sets(bench)
            for r in replicates:
                frozen = frozen_test_sets(shared[r])
                sets = benchmark_test_sets(bench, base, frozen, user)
                for v in self.variants:
                    final_evaluation(variants[r, v.name], base.loops, sets)


def user_test_sets(bench: BenchmarkConfig) -> dict[str, list]:
    """The benchmark file's ``test_file`` and ``test_sets``, read."""
    sets = {}
    if bench.test_file:
        sets["test_file"] = read_labelled(bench.test_file)
    for name, path in bench.test_sets.items():
        sets[name] = read_labelled(path, source=name)
    return sets


def within_limits(images, selection) -> list:
    """The labelled ``images`` a training frame could be: within the
    physical limits of ``selection`` (:func:`hyperal.evolve.select.beyond_limits`)."""

    return [
        atoms
        for atoms in images
        if not beyond_limits(
            atoms,
            reference(atoms).forces,
            max_force_eV_A=selection.max_force_eV_A,
            min_distance_A=selection.min_distance_A,
        )
    ]


def benchmark_test_sets(
    bench: BenchmarkConfig,
    base: CampaignConfig,
    frozen: dict[str, list],
    user: dict[str, list],
) -> dict[str, list]:
    """Every frozen set a replicate's committees are evaluated on: the
    gentle and difficult sets (``frozen``), the difficult set within the
    physical limits of training frames (``difficult_capped``) and the
    user's sets. (A union of sets is not evaluated again: its figures are
    combined from its members', :func:`hyperal.benchmark.results.figure`.)"""
    sets = dict(frozen)
    sets[CAPPED] = within_limits(frozen.get("difficult", []), base.selection)
    sets.update(user)
    return sets
