"""Per-stratum and per-force-bin figures of a finished benchmark, with
paired 95 % intervals per stratum: which part of a test set decides the
ranking. Prints; asserts nothing.

    python benchmarks/benchmark_strata.py examples/benchmark-emt-large.yaml \
        robust,difficult_capped,test_file

(the benchmark must have finished: `hyperal benchmark FILE` first).
"""

import argparse

import numpy as np

from hyperal.benchmark import collect, load_benchmark
from hyperal.benchmark.statistics import compare
from hyperal.runs.store import Store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", help="the benchmark file (finished)")
    parser.add_argument(
        "sets", nargs="?", default="robust", help="test sets, comma-separated"
    )
    args = parser.parse_args(argv)
    bench, base = load_benchmark(args.benchmark)
    store = Store(bench.store)
    res = collect(store, bench, base)
    by = {}
    for c in res.curves:
        by.setdefault(c.variant, []).append(c)
    sets = args.sets.split(",")
    for name in sets:
        f0 = res.curves[0].final[-1].tests[name]
        strata = sorted(f0.by_source)
        print(
            f"\n{name}: per stratum final F RMSE mean ± sd (meV/Å); counts",
            {s: f0.by_source[s].count for s in strata},
        )
        print("| variant | " + " | ".join(strata) + " |")
        for v, cs in by.items():
            row = []
            for s in strata:
                vals = [
                    c.final[-1].tests[name].by_source[s].force_rmse_meV_A for c in cs
                ]
                row.append(f"{np.mean(vals):.0f} ± {np.std(vals, ddof=1):.0f}")
            print(f"| {v} | " + " | ".join(row) + " |")
        bins = [(b.lower_eV_A, b.upper_eV_A, b.atoms) for b in f0.force_bins]
        print(f"{name}: per |F_ref| bin", bins)
        for v, cs in by.items():
            row = []
            for lo, _hi, _ in bins:
                vals = [
                    b.force_rmse_meV_A
                    for c in cs
                    for b in c.final[-1].tests[name].force_bins
                    if b.lower_eV_A == lo
                ]
                row.append(f"{np.mean(vals):.0f}")
            print(f"| {v} | " + " | ".join(row) + " |")
        # paired per stratum vs md-random and md
        for other in (bench.reference, res.control):
            for v in by:
                if v == other:
                    continue
                out = []
                for s in strata:
                    a = [
                        c.final[-1].tests[name].by_source[s].force_rmse_meV_A
                        for c in by[v]
                    ]
                    b = [
                        c.final[-1].tests[name].by_source[s].force_rmse_meV_A
                        for c in by[other]
                    ]
                    cmp = compare(v, other, "", "", a, b)
                    i = cmp.interval
                    out.append(
                        f"{s} {cmp.percent(i.mean):+.0f}% "
                        f"[{cmp.percent(i.low):+.0f},{cmp.percent(i.high):+.0f}]"
                    )
                print(f"  {v} vs {other}: " + "; ".join(out))
    for name in ("difficult", "difficult_capped", "gentle", "test_file", "robust"):
        print(f"\nfinal {name} F RMSE:")
        for v, cs in by.items():
            vals = [
                c.final[-1].tests[name].all.force_rmse_meV_A
                for c in cs
                if name in c.final[-1].tests
            ]
            print(
                f"  {v}: {np.mean(vals):.0f} ± {np.std(vals, ddof=1):.0f}  "
                f"n={len(vals)} size={cs[0].final[-1].sizes.get(name)}"
            )


if __name__ == "__main__":
    main()
