"""The barrier tools on a small example: count and draw bcc vacancy-hop
environments of Nb-Ti-Zr, then find the saddle of a vacancy hop in fcc Cu
with EMT (dimer, checked to connect both minima) and compare it with a
forced climbing-image NEB.

Run:  python examples/barrier_tools.py
"""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from hyperal.barriers import (
    decorated_cell,
    describe,
    find_saddle,
    named_cases,
    path_environment,
    sample,
)


def main() -> None:
    env = path_environment(named_cases()["bcc-vacancy"])
    species = ["Nb", "Ti", "Zr"]
    for line in describe(env, len(species)):
        print(line)
    drawn = sample(env, len(species), 3, rng=0)
    for row in drawn:
        atoms = decorated_cell(env, row, species, hopping="Ti", rng=0)
        print(f"environment {atoms.info['decoration']}: {atoms.get_chemical_formula()}")

    cell = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    vacancy = cell.positions[0].copy()
    start = cell.copy()
    del start[0]
    hopper = int(np.argmin(np.linalg.norm(start.positions - vacancy, axis=1)))
    end = start.copy()
    end.positions[hopper] = vacancy
    for method in ("auto", "neb"):
        result = find_saddle(start, end, EMT(), method=method, fmax_eV_A=0.03)
        print(
            f"{method:>4}: {result.method} barrier {result.barrier_forward:.3f} eV, "
            f"converged {result.converged}, connects {result.connects}, "
            f"{result.calls} calculations"
        )


if __name__ == "__main__":
    main()
