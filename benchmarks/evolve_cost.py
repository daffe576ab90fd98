"""Cost and accuracy of our contour exploration (CE) against ASE's.

On 3×3×3 conventional fcc Al (108 atoms) with ASE's EMT:

1. Per-step cost of ``ContourEvolver`` at γ = 0 (ASE's CE plus our frame
   recording: committee figures and the shortest distance every step) against
   ``ase.md.contour_exploration.ContourExploration`` alone, timed in the same
   process, interleaved, same start, same target, same seed; ratio of medians.
2. The energy error against the target at the reference setting (docs/method.md §3) (164
   meV/atom above the relaxed energy) after a warm-up: mean, std and max of
   (E − E_target)/N in meV/atom.
3. With a committee of EMT variants (``emt_committee``, perturbed Al
   parameters), the mean σ_U over the last half of the run for γ = 0, 0.3,
   0.7 (steered CE, docs/method.md §3), from the same start and seed.

Prints figures; asserts nothing. The last line is machine-readable.

Run:  python benchmarks/evolve_cost.py [--steps 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.contour_exploration import ContourExploration

from hyperal.committee import emt_committee
from hyperal.evolve import ContourEvolver

MAXSTEP_PER_ATOM_A = 0.05


def al108():
    return bulk("Al", "fcc", a=4.05, cubic=True).repeat(3)


def timing(args) -> tuple[float, float]:
    """Median seconds per step: (ours at γ = 0, ASE's CE)."""
    atoms = al108()
    atoms.rattle(0.02, seed=args.seed)
    reference = ContourEvolver(calculator=EMT()).reference_energy(atoms)
    target = reference + 0.164 * len(atoms)
    ours, theirs = [], []
    for repeat in range(args.repeats):
        evolver = ContourEvolver(
            calculator=EMT(),
            energy_target_eV=target,
            maxstep_per_atom_A=MAXSTEP_PER_ATOM_A,
            rng=args.seed + repeat,
        )
        start = time.perf_counter()
        evolver.run(atoms, steps=args.timing_steps)
        ours.append((time.perf_counter() - start) / args.timing_steps)

        probe = atoms.copy()
        probe.calc = EMT()
        ce = ContourExploration(
            probe,
            maxstep=MAXSTEP_PER_ATOM_A * math.sqrt(len(probe)),
            energy_target=target,
            rng=np.random.default_rng(args.seed + repeat),
            logfile=None,
        )
        start = time.perf_counter()
        ce.run(args.timing_steps)
        theirs.append((time.perf_counter() - start) / args.timing_steps)
    return float(np.median(ours)), float(np.median(theirs))


def energy_error(args) -> np.ndarray:
    """(E − E_target)/N (meV/atom) after the warm-up, reference setting."""
    atoms = al108()
    result = ContourEvolver(
        calculator=EMT(),
        energy_above_meV_atom=164.0,
        reference="relaxed",
        maxstep_per_atom_A=MAXSTEP_PER_ATOM_A,
        rng=args.seed,
    ).run(atoms, steps=args.steps)
    error = (result.energies - result.info["energy_target_eV"]) / len(atoms) * 1e3
    return error[args.warmup :]


def steered_sigma(args) -> dict[float, float]:
    """Mean σ_U (eV) over the last half of the run for each γ."""
    committee = emt_committee(args.members, ["Al"], relative_std=0.03, rng=args.seed)
    atoms = al108()
    atoms.rattle(0.02, seed=args.seed)
    sigma = {}
    for gamma in (0.0, 0.3, 0.7):
        result = ContourEvolver(
            calculator=committee,
            gamma=gamma,
            maxstep_per_atom_A=MAXSTEP_PER_ATOM_A,
            rng=args.seed,
        ).run(atoms, steps=args.sigma_steps)
        sigmas = result.sigmas
        sigma[gamma] = float(sigmas[len(sigmas) // 2 :].mean())
    return sigma


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="CE steps (accuracy)")
    parser.add_argument("--warmup", type=int, default=50, help="steps not scored")
    parser.add_argument("--timing-steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7, help="timing repeats")
    parser.add_argument("--sigma-steps", type=int, default=200)
    parser.add_argument("--members", type=int, default=4, help="committee size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    ours, theirs = timing(args)
    ratio = ours / theirs
    print(f"CE per step, 108-atom fcc Al, EMT ({args.repeats} interleaved repeats)")
    print(
        f"  ours (γ = 0, with recording): {ours * 1e3:7.2f} ms  "
        f"({1 / ours:6.1f} steps/s)"
    )
    print(
        f"  ASE ContourExploration:       {theirs * 1e3:7.2f} ms  "
        f"({1 / theirs:6.1f} steps/s)"
    )
    print(f"  ratio ours / ASE: {ratio:.3f} (target <= 1.05)")

    error = energy_error(args)
    print(
        f"Energy error at 164 meV/atom above relaxed, steps {args.warmup}-"
        f"{args.steps} (meV/atom): mean {error.mean():+.3f}, std "
        f"{error.std():.3f}, max |err| {np.abs(error).max():.3f} (target <= 2)"
    )

    sigma = steered_sigma(args)
    print(
        f"Steered CE, {args.members} EMT-variant members, mean σ_U over the last "
        f"half of {args.sigma_steps} steps:"
    )
    for gamma, value in sigma.items():
        print(f"  γ = {gamma:.1f}: {value:.4f} eV")

    print(
        f"ce_cost_ratio={ratio:.3f} "
        f"energy_error_max_meV_atom={np.abs(error).max():.3f} "
        f"sigma_gamma0={sigma[0.0]:.4f} sigma_gamma07={sigma[0.7]:.4f}"
    )


if __name__ == "__main__":
    main()
