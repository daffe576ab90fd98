"""Does the calibrated σ cover the true errors? (docs/method.md §6)

Reads a finished benchmark store (``hyperal benchmark FILE`` ran first) and
prints, per variant and replicate, how the final committee's σ fares on the
final frozen sets: the split-conformal factor fitted on a seeded half of the
set and the share of true errors it covers on the other half, the
miscalibration area and Spearman's ρ — for the energy per atom, the force
per structure (aggregated over atoms) and the force per atom. A last block
pools the replicates: the mean held-out coverage per variant and quantity.

Prints figures; asserts nothing.

Run:  python benchmarks/calibration_coverage.py [examples/benchmark-emt.yaml]
      [--set difficult]
(from the folder the benchmark ran in: the store path is the file's)
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from hyperal.benchmark import load_benchmark
from hyperal.benchmark.run import variant_run
from hyperal.runs.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="examples/benchmark-emt.yaml")
    parser.add_argument("--set", default="difficult", help="frozen set (difficult)")
    args = parser.parse_args()
    bench, base = load_benchmark(args.config)
    store = Store(bench.store)
    print(
        f"{'variant':<18}{'rep':>4}{'quantity':>24}{'n':>6}{'factor':>9}"
        f"{'coverage':>10}{'area':>7}{'rho':>7}"
    )
    pooled: dict[tuple[str, str], list[float]] = {}
    for variant in bench.variants:
        for r in range(bench.replicates):
            finals = store.final(variant_run(r, variant.name))
            if not finals:
                continue
            errors = finals[-1].tests.get(args.set)
            if errors is None:
                continue
            for c in errors.calibration.values():
                what = f"{c.quantity} ({c.aggregate})"
                cover = "–" if c.coverage is None else f"{c.coverage:.1%}"
                rho = "–" if c.rank_correlation is None else f"{c.rank_correlation:.2f}"
                factor = f"{c.factor:.3g}" if math.isfinite(c.factor) else "inf"
                print(
                    f"{variant.name:<18}{r:>4}{what:>24}{c.count:>6}{factor:>9}"
                    f"{cover:>10}{c.miscalibration_area:>7.3f}{rho:>7}"
                )
                if c.coverage is not None:
                    pooled.setdefault((variant.name, what), []).append(c.coverage)
    print(f"\nmean held-out coverage on the final {args.set} set (target ≥ 95 %):")
    for (name, what), values in pooled.items():
        print(
            f"  {name:<18}{what:>22}: {np.mean(values):.1%} "
            f"(min {min(values):.1%}, {len(values)} replicates)"
        )


if __name__ == "__main__":
    main()
