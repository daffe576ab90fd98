"""The campaign's own cost against its oracle's, and oracle throughput per worker.

1. Overhead: the demo campaign (``examples/campaign_demo.yaml``) with an oracle
   that sleeps ``--sleep`` seconds per call (``hyperal.testing:SleepyEMT``), in
   process, once with warm-started fits (the default) and once with cold ones
   (``committee.warm_start: false``). Oracle time = calls × (sleep + one EMT
   call); the campaign's own overhead is everything else (fits, evolutions,
   selection, store), as a fraction of wall time, with the time per stage.
2. Throughput: ``--labels`` structures labelled by the same sleeping oracle
   through a local process pool of 1 and of 4 workers (``completed()`` over
   ``make_executor("process")``), and through a Dask LocalCluster of 4.

Prints figures; asserts nothing. The last line is machine-readable.

Run:  python benchmarks/campaign_overhead.py [--sleep 1.0] [--labels 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml
from ase.build import bulk

from hyperal.campaign import Campaign, parse_config
from hyperal.oracle import Oracle, label_structure
from hyperal.runs.executors import make_executor
from hyperal.runs.flow import completed
from hyperal.runs.progress import Progress, StageKind

DEMO = Path(__file__).resolve().parents[1] / "examples" / "campaign_demo.yaml"


#: The stage a report closes: the time since the previous report was spent on it.
BUCKET = {
    StageKind.INITIAL: "initial",
    StageKind.LABEL: "labelling",
    StageKind.EVOLVE: "evolving",
    StageKind.FIT: "bookkeeping",
    StageKind.FITTED: "fitting",
    StageKind.EVALUATE: "bookkeeping",
    StageKind.EVALUATED: "evaluating",
}


def overhead(args, warm: bool) -> dict:
    data = yaml.safe_load(DEMO.read_text())
    data["committee"]["warm_start"] = warm
    data["oracle"] = {
        "name": "hyperal.testing:SleepyEMT",
        "kwargs": {"seconds": args.sleep},
    }
    # in process, each report follows the task it reports: the time since the
    # previous report is that task's (plus its store write)
    buckets: dict[str, float] = {}
    last = {"t": None}

    def progress(report: Progress):
        now = time.perf_counter()
        stage = BUCKET[report.kind]
        buckets[stage] = buckets.get(stage, 0.0) + now - last["t"]
        last["t"] = now

    with tempfile.TemporaryDirectory() as tmp:
        data["store"] = str(Path(tmp) / "demo.db")
        start = last["t"] = time.perf_counter()
        metrics = Campaign(parse_config(data), progress=progress).run()
        wall = time.perf_counter() - start
    calls = metrics[-1].oracle_calls
    oracle = calls * (args.sleep + _emt_seconds())
    return {
        "wall": wall,
        "calls": calls,
        "oracle": oracle,
        "stages": buckets,
        "overhead": (wall - oracle) / wall,
        "gentle": [m.errors("gentle").force_rmse_meV_A for m in metrics],
    }


def _emt_seconds() -> float:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.rattle(0.1, seed=0)
    oracle = Oracle("emt")
    start = time.perf_counter()
    for _ in range(20):
        oracle.label(atoms)
    return (time.perf_counter() - start) / 20


def throughput(args, kind: str, workers: int) -> float:
    """Labels per second."""
    oracle = Oracle("hyperal.testing:SleepyEMT", {"seconds": args.sleep})
    structures = []
    for k in range(args.labels):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
        atoms.rattle(0.1, seed=k)
        structures.append(atoms)
    with make_executor(kind, workers=workers) as executor:
        # warm the workers up (imports) before timing
        list(
            completed(
                executor,
                [
                    (k, label_structure, (Oracle("emt"), structures[0]))
                    for k in range(workers)
                ],
            )
        )
        start = time.perf_counter()
        calls = [(k, label_structure, (oracle, a)) for k, a in enumerate(structures)]
        labels = [label for _, label in completed(executor, calls)]
        elapsed = time.perf_counter() - start
    assert all(label.ok for label in labels)
    return len(labels) / elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sleep", type=float, default=1.0, help="oracle s per call")
    parser.add_argument("--labels", type=int, default=16, help="throughput labels")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args(argv)

    results = {}
    for warm in () if args.skip_overhead else (True, False):
        o = results[warm] = overhead(args, warm)
        print(
            f"Demo campaign with a {args.sleep:g} s oracle ({o['calls']} calls), "
            f"in process, {'warm' if warm else 'cold'} fits:"
        )
        own = o["wall"] - o["oracle"]
        print(f"  wall {o['wall']:.1f} s, oracle {o['oracle']:.1f} s, own {own:.1f} s")
        stages = o["stages"]
        print(
            "  wall by stage (s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
        )
        print(f"  overhead {100 * o['overhead']:.1f} % of wall time (target <= 5 %)")
        print(
            "  gentle force RMSE per loop (meV/Å): "
            + ", ".join(f"{v:.0f}" for v in o["gentle"])
        )
    rates = {}
    for kind, workers in (("process", 1), ("process", 4), ("dask", 4)):
        try:
            rates[(kind, workers)] = throughput(args, kind, workers)
        except ValueError as exc:  # dask absent
            print(f"  {kind} x{workers}: skipped ({exc})")
    base = rates[("process", 1)]
    print(f"Oracle throughput, {args.labels} labels of {args.sleep:g} s each:")
    for (kind, workers), rate in rates.items():
        print(
            f"  {kind:8s} {workers} worker(s): {rate:.2f} labels/s "
            f"({rate / base:.2f}x one worker)"
        )
    speedup = rates[("process", 4)] / base
    overhead_text = "".join(
        f"overhead_fraction_{'warm' if warm else 'cold'}={o['overhead']:.3f} "
        for warm, o in results.items()
    )
    print(f"{overhead_text}throughput_4_workers_over_1={speedup:.2f}")


if __name__ == "__main__":
    main()
