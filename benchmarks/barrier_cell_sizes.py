"""Per-atom efficiency of cell sizes in barrier learning (docs/method.md §7):
the same barrier campaign run once per cell size, each committee's barrier
error measured on every campaign's random set, against the atoms the oracle
computed.

Small cells put more of their atoms near the saddle; the oracle's cost grows
with the atoms it computes (for DFT faster than linearly). Each campaign is
the barrier campaign file (default ``examples/barriers-emt.yaml``) with
``cells.sizes`` set to one size. Its random set is its own size's, so every
final committee is also scored on every other campaign's random set: the
committee's saddle searches between the oracle-relaxed ends of those hops,
against the oracle's barriers. A row per campaign: oracle calls, oracle
atoms, wall time, and the barrier RMSE (meV) on each random set.

Prints figures; asserts nothing.

Run:  python benchmarks/barrier_cell_sizes.py [--sizes 2x2x2,3x3x3]
      [--loops 3] [--config examples/barriers-emt.yaml] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from hyperal.barriers.config import parse_barrier_config
from hyperal.barriers.learn import RUN, BarrierCampaign, _options, mlip_barrier
from hyperal.campaign.store import Store

ROOT = Path(__file__).resolve().parents[1]


def random_hops(store: Store):
    """(start, end, oracle barrier) of each hop of a store's random set."""
    rows = store.rows(run=RUN, loop=0, stage="hop", split="random")
    points = {(r.start_index, r.point): r for r in rows}
    return [
        (
            points[(i, "start")].toatoms(),
            points[(i, "end")].toatoms(),
            float(saddle.barrier_oracle),
        )
        for (i, point), saddle in sorted(points.items())
        if point == "saddle"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2x2x2,3x3x3")
    parser.add_argument("--loops", type=int, default=3)
    parser.add_argument("--config", default=str(ROOT / "examples/barriers-emt.yaml"))
    parser.add_argument("--out", default=None, help="folder for the stores")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="cell-sizes-"))
    out.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load(Path(args.config).read_text())
    sizes = args.sizes.split(",")
    runs = {}
    for size in sizes:
        data = dict(base, loops=args.loops, store=str(out / f"{size}.db"))
        data["cells"] = {
            **base.get("cells", {}),
            "sizes": [[int(n) for n in size.split("x")]],
        }
        config = parse_barrier_config(data)
        began = time.perf_counter()
        metrics = BarrierCampaign(config).run()
        runs[size] = (config, metrics, time.perf_counter() - began)
        print(f"{size}: done in {runs[size][2]:.0f} s", flush=True)
    sets = {size: random_hops(Store(runs[size][0].store)) for size in sizes}
    print(f"\nstores in {out}; barrier RMSE (meV) on each random set:\n")
    head = ["cells", "oracle calls", "oracle atoms", "wall (s)"]
    head += [f"RMSE on {s} ({len(sets[s])} hops)" for s in sizes]
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for size in sizes:
        config, metrics, wall = runs[size]
        last = metrics[-1]
        checkpoint = str(Store(config.store).checkpoint_path(last.loop, RUN))
        cells = [size, str(last.oracle_calls), str(last.oracle_atoms), f"{wall:.0f}"]
        for other in sizes:
            errors = []
            for start, end, oracle in sets[other]:
                found = mlip_barrier(checkpoint, start, end, _options(config))
                if found is not None:
                    errors.append(found - oracle)
            failed = len(sets[other]) - len(errors)
            rmse = 1e3 * float(np.sqrt(np.mean(np.square(errors)))) if errors else None
            cells.append(
                ("–" if rmse is None else f"{rmse:.0f}")
                + (f" ({failed} searches failed)" if failed else "")
            )
        print(" | ".join(cells))


if __name__ == "__main__":
    main()
