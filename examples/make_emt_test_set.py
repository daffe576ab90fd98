"""Write examples/data/emt-alloy-test.extxyz: an independent test set for the
EMT benchmark, made without hyperal's structure sources or any committee.

40 fcc Cu–Ni–Pd–Ag–Au cells of 32 atoms with random compositions, a lattice
constant from Vegard's law on EMT's own fcc lattice constants, a random
strain of up to 3 %, then EMT Langevin MD at 600–1500 K; one snapshot per run
after 100–300 fs, labelled by EMT (REF_energy / REF_forces). Seeded: the same
file every time. `python examples/make_emt_test_set.py` (a few seconds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta

from hyperal.labels import with_ref_keys

ELEMENTS = ("Cu", "Ni", "Pd", "Ag", "Au")
#: EMT's equilibrium fcc lattice constants (Å), from an E(a) scan with EMT.
LATTICE = {"Cu": 3.590, "Ni": 3.487, "Pd": 3.879, "Ag": 4.064, "Au": 4.056}
OUT = Path(__file__).parent / "data" / "emt-alloy-test.extxyz"


def main(n: int = 40, seed: int = 2026) -> None:
    rng = np.random.default_rng(seed)
    images = []
    for k in range(n):
        fractions = rng.dirichlet(np.ones(len(ELEMENTS)))
        symbols = rng.choice(ELEMENTS, size=32, p=fractions)
        a = sum(LATTICE[s] for s in symbols) / len(symbols)
        atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat((2, 2, 2))
        atoms.symbols = symbols
        strain = np.eye(3) + rng.uniform(-0.03, 0.03, (3, 3))
        atoms.set_cell(atoms.cell.array @ (0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.calc = EMT()
        temperature = rng.uniform(600, 1500)
        thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
        md = Langevin(
            atoms,
            2 * units.fs,
            temperature_K=temperature,
            friction=0.01 / units.fs,
            fixcm=False,
            rng=rng,
        )
        md.run(int(rng.integers(50, 150)))
        atoms.get_potential_energy()
        labelled = with_ref_keys(atoms, k)
        labelled.info = {
            "REF_energy": labelled.info["REF_energy"],
            "source": "independent_md",
        }
        images.append(labelled)
    OUT.parent.mkdir(exist_ok=True)
    write(OUT, images, format="extxyz")
    print(f"wrote {len(images)} structures to {OUT}")


if __name__ == "__main__":
    main()
