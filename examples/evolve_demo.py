"""Evolve one structure with every scheme and select the frame worth labelling.

A rattled 32-atom fcc Cu–Ni cell is evolved by each registered scheme (MD,
relaxation, contour exploration, dimer, and their adversarially biased twins)
on a committee of perturbed-EMT members; from each trajectory the frame with
the largest σ_U below the force and distance limits is selected (docs/method.md §3).
Prints one line per scheme.

Run:  python examples/evolve_demo.py [--steps 100] [--schemes md advb_md ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from ase.build import bulk

from hyperal.committee import emt_committee
from hyperal.evolve import SCHEMES, make_evolver, select_frame


def start_structure(seed: int):
    atoms = bulk("Cu", "fcc", a=3.58, cubic=True).repeat(2)
    rng = np.random.default_rng(seed)
    atoms.symbols[rng.permutation(len(atoms))[:12]] = "Ni"
    atoms.rattle(0.1, seed=seed)
    return atoms


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=100, help="steps per scheme")
    parser.add_argument(
        "--schemes", nargs="+", default=list(SCHEMES), choices=list(SCHEMES)
    )
    parser.add_argument("--members", type=int, default=4, help="committee size")
    parser.add_argument(
        "--max-force", type=float, default=25.0, help="F_max of the selection (eV/Å)"
    )
    parser.add_argument(
        "--min-distance", type=float, default=1.0, help="distance floor (Å)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    committee = emt_committee(args.members, ["Cu", "Ni"], relative_std=0.03, rng=7)
    atoms = start_structure(args.seed)
    print(
        f"{'scheme':<11} {'status':<10} {'steps':>5} {'σ_U start':>9} "
        f"{'σ_U max':>8} {'selected':>8} {'blocked F/d':>11} {'time':>6}"
    )
    print(f"{'':<23}{'(eV)':>9} {'(eV)':>8} {'(eV)':>8} {'':>11} {'(s)':>6}")
    for name in args.schemes:
        start = time.perf_counter()
        evolver = make_evolver(name, committee, rng=args.seed)
        result = evolver.run(atoms, steps=args.steps)
        chosen = select_frame(
            result, max_force_eV_A=args.max_force, min_distance_A=args.min_distance
        )
        selected = f"{chosen.frame.sigma:8.3f}" if chosen.selected else f"{'none':>8}"
        blocked = f"{chosen.blocked_force}/{chosen.blocked_distance}"
        print(
            f"{name:<11} {result.status:<10} {result.steps:>5} "
            f"{result.sigmas[0]:9.3f} {np.nanmax(result.sigmas):8.3f} {selected} "
            f"{blocked:>11} {time.perf_counter() - start:6.1f}"
        )


if __name__ == "__main__":
    main()
