"""Cost and accuracy of the built-in BPNN committee on the 2-core CPU.

1. Time per structure of one member (M = 1: energy + forces) and of the
   committee (M = 8: energy + forces + σ_U + ∇σ_U), on 108- and 432-atom fcc
   Cu–Ni–Pd cells, and their ratio; untrained models cost what trained ones do.
2. Fit time and committee-mean test errors on an EMT data set this script
   generates: 2×2×2 conventional fcc cells (32 atoms) of random Cu–Ni–Pd
   composition, homogeneously strained (symmetric strain, each component
   uniform in ±``--strain``) and rattled (Gaussian, standard deviation uniform
   in [0.02, ``--rattle``] Å), labelled by ASE's EMT.

Prints figures; asserts nothing. The last line is machine-readable.

Run:  python benchmarks/committee_cost.py [--epochs 150] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from hyperal import metrics
from hyperal.models import BPNN

ELEMENTS = ("Cu", "Ni", "Pd")


def emt_dataset(
    n: int, *, rattle: float, strain: float, rng: np.random.Generator
) -> list[Atoms]:
    """Random-composition, strained, rattled fcc Cu–Ni–Pd cells with EMT labels."""
    images = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.70, cubic=True).repeat(2)
        fractions = rng.dirichlet(np.ones(len(ELEMENTS)))
        atoms.symbols[:] = rng.choice(ELEMENTS, len(atoms), p=fractions)
        eps = rng.uniform(-strain, strain, size=(3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        atoms.rattle(rng.uniform(0.02, rattle), seed=int(rng.integers(2**31)))
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        images.append(atoms)
    return images


def alloy_cell(repeat, rng) -> Atoms:
    atoms = bulk("Cu", "fcc", a=3.70, cubic=True).repeat(repeat)
    atoms.symbols[:] = rng.choice(ELEMENTS, len(atoms))
    atoms.rattle(0.05, seed=0)
    return atoms


def time_per_structure(model: BPNN, atoms: Atoms, rng, *, rounds=5, calls=5) -> float:
    """Best-of-rounds seconds per evaluation of fresh (slightly moved) frames."""
    calc = model.as_calculator()
    uncertainty = model.n_members > 1

    def once():
        frame = atoms.copy()
        frame.positions += rng.normal(scale=1e-3, size=frame.positions.shape)
        calc.get_property("forces", frame)
        if uncertainty:
            calc.get_property("energy_uncertainty_gradient", frame)

    for _ in range(2):
        once()
    best = np.inf
    for _ in range(rounds):
        tic = time.perf_counter()
        for _ in range(calls):
            once()
        best = min(best, (time.perf_counter() - tic) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--train", type=int, default=250)
    parser.add_argument("--test", type=int, default=50)
    parser.add_argument("--rattle", type=float, default=0.1, help="Å (0.1)")
    parser.add_argument("--strain", type=float, default=0.02, help="(0.02)")
    parser.add_argument(
        "--energy-weight", type=float, default=3.0, help="(3; the model default is 1)"
    )
    parser.add_argument("--force-weight", type=float, default=1.0)
    parser.add_argument("--activation", default="silu", choices=("tanh", "silu"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny run, smoke test")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.train, args.test = 3, 16, 4
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")

    # 1. Cost per structure.
    times = {}
    for repeat in ((3, 3, 3), (6, 6, 3)):
        atoms = alloy_cell(repeat, rng)
        for m in (1, 8):
            model = BPNN(ELEMENTS, n_members=m, seed=args.seed)
            times[len(atoms), m] = time_per_structure(model, atoms, rng)
        n = len(atoms)
        print(
            f"{n:4d} atoms: M=1 E+F {1e3 * times[n, 1]:7.1f} ms, "
            f"M=8 E+F+sigma+grad sigma {1e3 * times[n, 8]:7.1f} ms, "
            f"ratio {times[n, 8] / times[n, 1]:.2f}"
        )
    ratio_108 = times[108, 8] / times[108, 1]
    scaling = times[432, 8] / times[108, 8]
    print(f"432/108 atoms, M=8: {scaling:.2f}x per structure (linear: 4x)")

    # 2. Fit and test errors.
    data_rng = np.random.default_rng(args.seed)
    train = emt_dataset(
        args.train, rattle=args.rattle, strain=args.strain, rng=data_rng
    )
    test = emt_dataset(args.test, rattle=args.rattle, strain=args.strain, rng=data_rng)
    f_rms = float(
        np.sqrt(np.mean(np.concatenate([a.get_forces() for a in train]) ** 2))
    )
    print(
        f"EMT set: {len(train)} train / {len(test)} test cells of 32 atoms, rattle "
        f"0.02-{args.rattle} A, strain +-{args.strain}; RMS force {f_rms:.3f} eV/A"
    )
    model = BPNN(ELEMENTS, n_members=8, seed=args.seed, activation=args.activation)
    fit = model.fit(
        train,
        epochs=args.epochs,
        energy_weight=args.energy_weight,
        force_weight=args.force_weight,
        seed=args.seed,
    )
    calc = model.as_calculator()
    predicted_e, reference_e, predicted_f, reference_f = [], [], [], []
    for atoms in test:
        frame = atoms.copy()
        frame.calc = calc
        predicted_e.append(frame.get_potential_energy())
        predicted_f.append(frame.get_forces())
        reference_e.append(atoms.get_potential_energy())
        reference_f.append(atoms.get_forces())
    n_atoms = [len(a) for a in test]
    e_stats = metrics.energy_errors(predicted_e, reference_e, n_atoms).scaled(
        1e3, "meV/atom"
    )
    f_stats = metrics.force_errors(predicted_f, reference_f).scaled(1e3, "meV/A")
    angle = metrics.force_angle_errors(predicted_f, reference_f)
    print(
        f"fit: {fit.epochs} epochs in {fit.wall_s:.1f} s "
        f"({fit.n_train} train, {fit.n_validation} validation)"
    )
    print(
        f"test (committee mean): energy RMSE {e_stats.rmse:.2f} meV/atom, "
        f"force RMSE {f_stats.rmse:.1f} meV/A, force MAE {f_stats.mae:.1f} meV/A, "
        f"force angle MAE {angle.mae:.2f} deg"
    )
    print(
        f"committee_cost_ratio_108={ratio_108:.3f} scaling_432_over_108={scaling:.3f} "
        f"test_energy_rmse_meV_atom={e_stats.rmse:.3f} "
        f"test_force_rmse_meV_A={f_stats.rmse:.3f} fit_wall_s={fit.wall_s:.1f}"
    )


if __name__ == "__main__":
    main()
