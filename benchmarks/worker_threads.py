"""Committee evaluations on a local process pool: with and without the
workers sharing the machine's cores.

Each task evaluates a BPNN committee (M = 4, 2 × 10 hidden, 5 Å; untrained
weights cost what trained ones do) on a 32-atom fcc Cu–Ni–Pd cell ``--calls``
times, moving the atoms slightly each time — what an evolution does on a
worker. Timed: the task alone in this process; then ``--workers`` tasks at
once on a pool of as many workers, once with every worker's torch at its
default thread count (one per core) and once with the cores shared out
(``make_executor(share_cores=True)``, the campaign's pools). Side by side in
one run. Prints figures; asserts nothing. The last line is machine-readable.

Run:  python benchmarks/worker_threads.py [--workers 2] [--calls 100]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def evaluations(calls: int) -> tuple[float, int]:
    """Seconds per committee evaluation over ``calls`` moved frames, and the
    torch threads used."""
    import torch
    from ase.build import bulk

    from hyperal.models import BPNN

    model = BPNN(("Cu", "Ni", "Pd"), n_members=4, hidden=(10, 10), cutoff=5.0)
    calc = model.as_calculator()
    rng = np.random.default_rng(0)
    atoms = bulk("Cu", "fcc", a=3.70, cubic=True).repeat(2)
    atoms.symbols[:] = rng.choice(["Cu", "Ni", "Pd"], len(atoms))
    calc.get_property("forces", atoms.copy())  # warm up
    start = time.perf_counter()
    for _ in range(calls):
        frame = atoms.copy()
        frame.positions += rng.normal(scale=0.02, size=frame.positions.shape)
        calc.get_property("forces", frame)
    return (time.perf_counter() - start) / calls, torch.get_num_threads()


def main() -> None:
    from hyperal.runs.executors import make_executor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    alone, threads = evaluations(args.calls)
    print(
        f"{os.cpu_count()} cores; one task alone in process ({threads} threads): "
        f"{1e3 * alone:.1f} ms per evaluation"
    )
    line = {"alone_ms": round(1e3 * alone, 2)}
    for share in (False, True):
        with make_executor("process", workers=args.workers, share_cores=share) as pool:
            # start every worker before timing (spawn and imports)
            list(pool.map(evaluations, [1] * args.workers))
            futures = [
                pool.submit(evaluations, args.calls) for _ in range(args.workers)
            ]
            results = [f.result() for f in futures]
        per_call = float(np.mean([seconds for seconds, _ in results]))
        name = "shared cores" if share else "default threads"
        print(
            f"{args.workers} tasks at once on {args.workers} workers, {name} "
            f"({results[0][1]} threads each): {1e3 * per_call:.1f} ms per "
            f"evaluation, {per_call / alone:.1f}x alone"
        )
        key = "shared" if share else "default"
        line[f"{key}_ms"] = round(1e3 * per_call, 2)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
