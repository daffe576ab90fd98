"""Energy-aware against force-only triage in the barrier campaign
(docs/method.md §7), side by side on the same file and seeds.

Each seed runs the barrier file (default ``examples/barriers-emt.yaml``)
twice: as written (the energy rule at its ``triage.barrier_error_eV``,
default 0.05 eV) and with ``triage.barrier_error_eV: null`` (the force rule
only). Both draw the same loop-0 searches and random set (same seed), so
each loop's random-set barrier RMSE is compared hop by hop: the paired
difference energy − force with a 95 % bootstrap interval over the hops.
Stores are kept in ``--out``; a rerun with the same ``--out`` reuses the
loops already finished (the campaign resumes).

Prints figures; asserts nothing.

Run:  python benchmarks/barrier_triage.py [--loops 6] [--seeds 0,1]
      [--jobs 2] [--config examples/barriers-emt.yaml] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

from hyperal.barriers.config import parse_barrier_config
from hyperal.barriers.learn import BarrierCampaign, barrier_metrics
from hyperal.barriers.statistics import interval_text, paired_text
from hyperal.runs.store import Store

ROOT = Path(__file__).resolve().parents[1]


def run(data: dict) -> float:
    began = time.perf_counter()
    BarrierCampaign(parse_barrier_config(data)).run()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", type=int, default=6)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--jobs", type=int, default=2, help="campaigns at once")
    parser.add_argument("--config", default=str(ROOT / "examples/barriers-emt.yaml"))
    parser.add_argument("--out", default=None, help="folder for the stores")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="barrier-triage-"))
    out.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load(Path(args.config).read_text())
    files = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        for rule in ("energy", "force"):
            data = copy.deepcopy(base)
            data.update(
                loops=args.loops, seed=seed, store=str(out / f"{rule}-s{seed}.db")
            )
            if rule == "force":
                data["triage"] = {**data.get("triage", {}), "barrier_error_eV": None}
            files[(seed, rule)] = data
    with ProcessPoolExecutor(args.jobs) as pool:
        wall = dict(zip(files, pool.map(run, files.values()), strict=True))
    print(f"\nstores in {out}; energy rule: triage.barrier_error_eV as in the file")
    head = ["seed", "loop", "calls energy / force", "train energy / force"]
    head += ["energy-triaged", "RMSE energy (meV)", "RMSE force (meV)"]
    head += ["energy − force (meV)"]
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for seed in sorted({s for s, _ in files}):
        energy = barrier_metrics(Store(files[(seed, "energy")]["store"]))
        force = barrier_metrics(Store(files[(seed, "force")]["store"]))
        for e, f in zip(energy, force, strict=True):
            cells = [
                str(seed),
                str(e.loop),
                f"{e.oracle_calls} / {f.oracle_calls}",
                f"{e.n_train} / {f.n_train}",
                str(e.counts.get("energy", 0)),
                interval_text(e.barrier),
                interval_text(f.barrier),
                paired_text(e.barrier_oracle, e.barrier_mlip, f.barrier_mlip),
            ]
            print("| " + " | ".join(cells) + " |")
    print(
        "\nwall (s): " + ", ".join(f"seed {s} {r} {wall[(s, r)]:.0f}" for s, r in files)
    )


if __name__ == "__main__":
    main()
