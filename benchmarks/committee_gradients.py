"""Finite-difference accuracy of ∇σ_U and of the biased forces and stress, and
the committee's own overhead, on a 32-atom rattled fcc Cu–Ni cell (float64).

Prints figures; asserts nothing. The last line is machine-readable.

Run:  python benchmarks/committee_gradients.py
"""

from __future__ import annotations

import time

import numpy as np
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

from hyperal import AdversarialBias, Committee
from hyperal.committee import perturbed_emt_members
from hyperal.testing import central_difference


def cell(seed: int = 1):
    atoms = bulk("Cu", "fcc", a=3.58, cubic=True).repeat(2)
    atoms.symbols[np.random.default_rng(seed).permutation(len(atoms))[:12]] = "Ni"
    atoms.rattle(0.1, seed=seed)
    return atoms


def sigma_gradient_error(committee: Committee, atoms, h: float) -> float:
    analytic = committee.get_property("energy_uncertainty_gradient", atoms)
    numeric = central_difference(
        lambda probe: committee.get_property("energy_uncertainty", probe), atoms, h
    )
    return float(np.abs(analytic - numeric).max())


def main() -> None:
    members = perturbed_emt_members(4, ["Cu", "Ni"], relative_std=0.03, rng=7)
    committee = Committee(members)
    atoms = cell()
    print(f"{len(atoms)}-atom Cu-Ni cell, 4 perturbed-EMT members, float64")

    err_grad = sigma_gradient_error(committee, atoms, h=1e-4)
    biased = atoms.copy()
    biased.calc = AdversarialBias(committee, alpha=2.0)
    err_forces = float(
        np.abs(biased.get_forces() - calculate_numerical_forces(biased, eps=1e-4)).max()
    )
    err_stress = float(
        np.abs(biased.get_stress() - calculate_numerical_stress(biased, eps=1e-5)).max()
    )
    print(f"max |grad sigma_U - central FD (h=1e-4 A)|        = {err_grad:.2e} eV/A")
    print(f"max |biased forces - central FD (h=1e-4 A)|       = {err_forces:.2e} eV/A")
    print(
        f"max |biased stress - central FD (strain 1e-5)|    = {err_stress:.2e} eV/A^3"
    )

    # Overhead: one committee evaluation vs its members evaluated by hand, on
    # fresh frames, interleaved over 5 rounds; the best round of each counts.
    rng = np.random.default_rng(0)

    def fresh_frames():
        frames = [atoms.copy() for _ in range(10)]
        for frame in frames:
            frame.positions += rng.normal(scale=0.02, size=frame.positions.shape)
        return frames

    def by_hand(frames):
        for frame in frames:
            for member in members:
                member.get_potential_energy(frame)
                member.get_forces(frame)

    def by_committee(frames):
        for frame in frames:
            committee.get_property("energy_uncertainty_gradient", frame)

    best = {by_hand: np.inf, by_committee: np.inf}
    for _ in range(5):
        for run in best:
            frames = fresh_frames()
            tic = time.perf_counter()
            run(frames)
            best[run] = min(best[run], (time.perf_counter() - tic) / len(frames))
    t_members, t_committee = best[by_hand], best[by_committee]
    ratio = t_committee / t_members
    print(
        f"time per structure: members by hand {1e3 * t_members:.1f} ms, "
        f"Committee {1e3 * t_committee:.1f} ms (ratio {ratio:.3f})"
    )
    print(
        f"fd_err_grad_sigma={err_grad:.3e} fd_err_biased_forces={err_forces:.3e} "
        f"fd_err_biased_stress={err_stress:.3e} committee_overhead_ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()
