"""Small against large cells in barrier learning, at equal oracle cost
(docs/method.md §7).

Small cells put more of their atoms near the saddle; the oracle's cost grows
with the atoms it computes (for DFT about as n³ per calculation). Here the
cost proxy is the atoms the oracle computed for *training* (loop 0's
training searches, every later label; the random set's searches are the
measurement, not counted), and the n³ proxy Σ calls × atoms³ is printed
beside it.

Campaigns, each the barrier file (default ``examples/barriers-emt.yaml``)
with ``cells`` replaced:

- ``3x3x3``: only 3×3×3 cells, the file's ``initial.train``;
- ``2x2x2``: only 2×2×2 cells, the file's ``initial.train`` (its own, lower
  budget);
- ``2x2x2-equal``: only 2×2×2 cells, ``initial.train`` grown so that its
  training atoms reach those of ``3x3x3`` (the searches per atom measured
  on ``2x2x2``);
- ``mixed`` and ``mixed-equal``: every N1×N2×N3 with Nᵢ in {2, 3}, strained
  (``cells.strain``), at the file's budget and grown to ``3x3x3``'s (a
  campaign whose training at the file's budget already cost as much as
  ``3x3x3``'s is not grown; the table says so).

Every final committee searches the hops of every campaign's random set (the
committee's search between the oracle-relaxed ends, against the oracle's
barrier): barrier RMSE (meV) with a 95 % bootstrap interval over hops, and,
on each random set, the paired difference ``2x2x2-equal`` − ``3x3x3`` and
``mixed-equal`` − ``3x3x3`` (hops both found; bootstrap over hops).

Prints figures; asserts nothing.

Run:  python benchmarks/barrier_cell_sizes.py [--loops 3] [--jobs 2]
      [--config examples/barriers-emt.yaml] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import math
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

from hyperal.barriers.config import parse_barrier_config
from hyperal.barriers.learn import RUN, BarrierCampaign
from hyperal.barriers.records import BarrierSplit, BarrierStage, HopWhere
from hyperal.barriers.statistics import barrier_errors, interval_text, paired_text
from hyperal.barriers.tasks import mlip_barrier
from hyperal.runs.store import Store

ROOT = Path(__file__).resolve().parents[1]
MIXED = [[a, b, c] for a in (2, 3) for b in (2, 3) for c in (2, 3)]


def settings(base: dict, name: str, train: int | None, loops: int, out: Path):
    """The campaign file ``name`` of the benchmark (``train``: grown)."""
    data = copy.deepcopy(base)
    data.update(loops=loops, store=str(out / f"{name}.db"))
    cells = dict(data.get("cells", {}))
    if name.startswith("mixed"):
        cells.update(sizes=MIXED, strain=True)
    else:
        cells.update(sizes=[[int(n) for n in name[:5].split("x")]], strain=False)
    data["cells"] = cells
    if train is not None:
        data["initial"] = {**data.get("initial", {}), "train": int(train)}
    return data


def run(data: dict) -> float:
    """Run one campaign; its wall time (s)."""
    began = time.perf_counter()
    BarrierCampaign(parse_barrier_config(data)).run()
    return time.perf_counter() - began


def cost(store: Store, train: int) -> dict:
    """The oracle's work in a finished campaign: training atoms and calls
    (loop 0's first ``train`` searches, every later label not copied), the
    same as Σ calls × atoms³, and the random set's atoms apart."""
    figures = dict.fromkeys(
        ("train_calls", "train_atoms", "train_n3", "random_atoms", "search_atoms"), 0
    )
    for row in store.rows(HopWhere(has="search_calls", run=RUN)):
        calls = int(row.search_calls)
        if row.start_index < train:
            figures["train_calls"] += calls
            figures["train_atoms"] += calls * row.natoms
            figures["train_n3"] += calls * row.natoms**3
            figures["search_atoms"] += calls * row.natoms
        else:
            figures["random_atoms"] += calls * row.natoms
    for status in ("ok", "failed"):
        for row in store.rows(HopWhere(min_loop=1, run=RUN, status=status)):
            if not row.get("cached"):
                figures["train_calls"] += 1
                figures["train_atoms"] += row.natoms
                figures["train_n3"] += row.natoms**3
    return figures


def random_hops(store: Store):
    """(start, end, oracle barrier) of each hop of a store's random set."""
    rows = store.rows(
        HopWhere(run=RUN, loop=0, stage=BarrierStage.HOP, split=BarrierSplit.RANDOM)
    )
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


def searched(data: dict, hops) -> list[float | None]:
    """The final committee's barriers of ``hops`` (None: no barrier)."""
    config = parse_barrier_config(data)
    checkpoint = str(Store(config.store).checkpoint_path(config.loops, RUN))
    return [
        mlip_barrier(checkpoint, start, end, config.saddle)[0] for start, end, _ in hops
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="campaigns at once")
    parser.add_argument("--config", default=str(ROOT / "examples/barriers-emt.yaml"))
    parser.add_argument("--out", default=None, help="folder for the stores")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="cell-sizes-"))
    out.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load(Path(args.config).read_text())
    train0 = int(base.get("initial", {}).get("train", 4))
    began = time.perf_counter()
    files = {n: settings(base, n, None, args.loops, out) for n in ("3x3x3", "2x2x2")}
    files["mixed"] = settings(base, "mixed", None, args.loops, out)
    with ProcessPoolExecutor(args.jobs) as pool:
        wall = dict(zip(files, pool.map(run, files.values()), strict=True))
    costs = {n: cost(Store(d["store"]), train0) for n, d in files.items()}
    target = costs["3x3x3"]["train_atoms"]
    grown, over = {}, []
    for small in ("2x2x2", "mixed"):
        c = costs[small]
        if c["train_atoms"] >= target:  # already at 3x3x3's cost: not grown
            over.append(small)
            continue
        per_search = c["search_atoms"] / max(train0, 1)
        later = c["train_atoms"] - c["search_atoms"]
        grown[small] = max(train0, math.ceil((target - later) / per_search))
        name = f"{small}-equal"
        files[name] = settings(base, name, grown[small], args.loops, out)
    with ProcessPoolExecutor(args.jobs) as pool:
        more = [n for n in files if n.endswith("-equal")]
        wall.update(zip(more, pool.map(run, [files[n] for n in more]), strict=True))
    for name in more:
        costs[name] = cost(Store(files[name]["store"]), grown[name[: -len("-equal")]])
    sets = {
        n: random_hops(Store(files[n]["store"])) for n in ("2x2x2", "3x3x3", "mixed")
    }
    found = {
        (n, s): searched(files[n], hops) for n in files for s, hops in sets.items()
    }

    print(f"\nstores in {out}; {args.loops} loops; {time.perf_counter() - began:.0f} s")
    print("training cost: loop 0's training searches and every later label;")
    print("n³ proxy: Σ calls × atoms³, relative to 3x3x3\n")
    head = ["campaign", "training searches", "train calls", "train atoms"]
    head += ["atoms / 3x3x3", "n³ cost / 3x3x3", "wall (s)"]
    head += [f"RMSE on {s} set ({len(h)} hops)" for s, h in sets.items()]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, data in files.items():
        c = costs[name]
        cells = [
            name,
            str(data["initial"].get("train", train0)),
            str(c["train_calls"]),
            f"{c['train_atoms']:,}",
            f"{c['train_atoms'] / target:.2f}",
            f"{c['train_n3'] / costs['3x3x3']['train_n3']:.3f}",
            f"{wall[name]:.0f}",
        ]
        for s, hops in sets.items():
            errors = barrier_errors([o for *_, o in hops], found[(name, s)])
            missing = errors.hops - errors.found
            cells.append(
                interval_text(errors) + (f" ({missing} not found)" if missing else "")
            )
        print("| " + " | ".join(cells) + " |")
    for small in over:
        ratio = costs[small]["train_atoms"] / target
        print(
            f"\n{small}: its training already cost {ratio:.1f}× the atoms "
            "of 3x3x3 at the file's budget: not grown"
        )
    print("\npaired RMSE difference against 3x3x3 on each random set (meV):\n")
    print("| campaign | " + " | ".join(f"on {s} set" for s in sets) + " |")
    print("|---|" + "---|" * len(sets))
    for name in [*more, *over]:
        cells = [
            paired_text(
                [o for *_, o in hops],
                found[(name, s)],
                found[("3x3x3", s)],
                hops=True,
            )
            for s, hops in sets.items()
        ]
        print(f"| {name} − 3x3x3 | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
