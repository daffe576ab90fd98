"""Why a committee's saddle searches of the random hops fail: each random
hop's oracle-relaxed ends relaxed again on a loop's committee, as the first
stage of the committee's search does.

For each end: the committee's largest atomic force at the oracle's minimum
(0 for a committee that had learnt it), the FIRE steps taken (of
``saddle.relax_steps``, to ``saddle.relax_fmax_eV_A``), the committee's
energy change, and the closest pair of atoms at the start and at the end of
the relaxation — a committee whose relaxation pulls atoms together to a
fraction of an ångström has a hole: an energy that falls without bound where
its training data never reached. The committee search's own reason (stored
by the campaign) is printed beside.

Prints figures; asserts nothing.

Run:  python benchmarks/barrier_search_failures.py BARRIERS.yaml [--loop K]
"""

from __future__ import annotations

import argparse

import numpy as np
from ase.geometry import get_distances
from ase.optimize import FIRE

from hyperal.barriers.config import load_barrier_config
from hyperal.barriers.learn import RUN, barrier_metrics
from hyperal.barriers.metrics import hop_group
from hyperal.barriers.records import BarrierSplit, BarrierStage, HopWhere
from hyperal.runs.store import Store
from hyperal.runs.tasks import committee


def closest(atoms) -> float:
    _, d = get_distances(atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    return float(np.min(d[np.triu_indices(len(atoms), 1)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--loop", type=int, default=None, help="default: the last")
    args = parser.parse_args()
    config = load_barrier_config(args.config)
    store = Store(config.store)
    metrics = barrier_metrics(store)
    m = metrics[-1] if args.loop is None else metrics[args.loop]
    calc = committee(str(store.checkpoint_path(m.loop, RUN))).calculator()
    rows = store.rows(
        HopWhere(run=RUN, loop=0, stage=BarrierStage.HOP, split=BarrierSplit.RANDOM)
    )
    saddles = sorted((r for r in rows if r.point == "saddle"), key=lambda r: r.id)
    ends = {(r.start_index, r.point): r for r in rows}
    fmax = config.saddle.relax_fmax_eV_A or config.saddle.fmax_eV_A
    print(
        f"loop {m.loop} committee; relax to {fmax} eV/Å in "
        f"{config.saddle.relax_steps} steps\n"
    )
    head = [
        "hop",
        "end",
        "oracle barrier (eV)",
        "committee max |F| at the oracle minimum (eV/Å)",
        "steps",
        "ΔE committee (eV)",
        "closest atoms before → after (Å)",
        "committee search",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for k, saddle in enumerate(saddles):
        why = m.barrier_mlip_reason[k] if k < len(m.barrier_mlip_reason) else ""
        for point in ("start", "end"):
            atoms = ends[(saddle.start_index, point)].toatoms()
            before = closest(atoms)
            atoms.calc = calc
            force = float(np.max(np.linalg.norm(atoms.get_forces(), axis=1)))
            e0 = float(atoms.get_potential_energy())
            opt = FIRE(atoms, logfile=None)
            opt.run(fmax=fmax, steps=config.saddle.relax_steps)
            cells = [
                f"{k} {hop_group(saddle)}",
                point,
                f"{float(saddle.barrier_oracle):.3f}",
                f"{force:.2f}",
                str(opt.nsteps),
                f"{float(atoms.get_potential_energy()) - e0:+.2f}",
                f"{before:.2f} → {closest(atoms):.2f}",
                ("found" if not why else why[:90]) if point == "start" else "",
            ]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
