"""Loop-to-loop noise of the learning curves: warm-started against cold fits.

Each loop only adds training data, so a committee's error on a fixed test set
should not jump up from one loop to the next; cold refits from new random
weights every loop made it jump (e.g. 142 -> 296 meV/Å). This runs a reduced
copy of ``examples/benchmark-emt.yaml`` (variants ``--variants``, ``--replicates``
seeds, its loops) twice — ``committee.warm_start`` true and false — and prints,
per variant and fit mode, the force RMSE curve on the independent test file and
on the frozen difficult set (means over replicates), the largest loop-to-loop
rise of those mean curves, and how many loop-to-loop steps of the individual
curves (one per replicate) go up, with the largest such rise.

Prints figures; asserts nothing.

Run:  python benchmarks/loop_noise.py [--variants md advb_ce] [--replicates 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from hyperal.benchmark import Benchmark, VariantConfig, collect, load_benchmark
from hyperal.runs.store import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "benchmark-emt.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["md", "advb_ce"])
    parser.add_argument("--replicates", type=int, default=2)
    args = parser.parse_args()
    bench, base = load_benchmark(EXAMPLE)
    print(
        f"{args.replicates} replicate(s), {base.loops} loops, variants "
        f"{', '.join(args.variants)}; force RMSE in meV/Å (mean over replicates)"
    )
    with tempfile.TemporaryDirectory() as folder:
        for warm in (True, False):
            committee = base.committee.model_copy(update={"warm_start": warm})
            b = bench.model_copy(
                update={
                    "variants": [VariantConfig(name=v) for v in args.variants],
                    "replicates": args.replicates,
                    "reference": args.variants[0],
                    "store": str(Path(folder) / f"warm-{warm}.db"),
                }
            )
            c = base.model_copy(update={"committee": committee})
            start = time.perf_counter()
            Benchmark(b, c).run()
            wall = time.perf_counter() - start
            results = collect(Store(b.store), b, c)
            mode = "warm" if warm else "cold"
            for variant in args.variants:
                curves = [x for x in results.curves if x.variant == variant]
                for split in ("test_file", "difficult"):
                    ys = np.array([x.figure(split) for x in curves])
                    mean = ys.mean(axis=0)
                    rise = np.max(mean[1:] / mean[:-1] - 1)
                    steps = ys[:, 1:] / ys[:, :-1] - 1
                    print(
                        f"{mode} {variant:<8} {split:<9} "
                        + " -> ".join(f"{y:.0f}" for y in mean)
                        + f"   largest rise of the mean {100 * rise:+.0f} %"
                        + f"   steps up {int(np.sum(steps > 0))}/{steps.size}"
                        + f" (largest {100 * np.max(steps):+.0f} %)"
                    )
            print(f"{mode}: {wall:.0f} s")


if __name__ == "__main__":
    main()
