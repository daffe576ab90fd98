"""The barrier tools' speed: hop-path environments, the saddle search with a
committee, the extrapolation grade γ.

Targets: counting a 14-site, 3-species neighbourhood (the bcc vacancy hop)
under 1 s; listing up to 10^6 representatives under 1 min on 2 cores; a
saddle search with a committee on a 54-atom bcc cell under 10 s; γ of a
100-atom cell under 10 ms once the active set is built.

Prints, for each named hop and species count, the neighbourhood size, group
orders, counts, and the wall time of building the path group + counting, of
listing every representative (when k^n <= 10^7) and of drawing 1000
distinct environments; then the saddle search's time, steps, calls and
barrier with a BPNN committee (M = 4, fitted here on EMT labels of rattled
54-atom bcc Cu cells with a vacancy — bcc Cu is a stand-in lattice EMT can
label) and γ's time per 100-atom structure.

Prints figures; asserts nothing.

Run:  python benchmarks/barrier_tools.py
"""

from __future__ import annotations

import time

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from hyperal.barriers import (
    find_saddle,
    named_cases,
    path_environment,
    representatives,
    sample,
)
from hyperal.barriers.paths import MAX_ENUMERATED
from hyperal.committee.grade import ExtrapolationGrade
from hyperal.models.options import BPNNOptions
from hyperal.models.registry import get_backend


def environments() -> None:
    for name, case in named_cases().items():
        for k in (2, 3, 4):
            start = time.perf_counter()
            env = path_environment(case)
            counts = {c: env.total(k, c) for c in ("directed", "undirected")}
            count_s = time.perf_counter() - start
            line = (
                f"{name:15s} k={k} sites={env.n_sites} "
                f"groups={env.group_order('directed')}/"
                f"{env.group_order('undirected')} "
                f"count directed={counts['directed']:,} "
                f"undirected={counts['undirected']:,}  count {count_s:.3f} s"
            )
            if k**env.n_sites <= MAX_ENUMERATED:
                start = time.perf_counter()
                rows = representatives(env, k, "directed")
                line += (
                    f"  list {len(rows):,} directed in "
                    f"{time.perf_counter() - start:.2f} s"
                )
            if env.count(k) >= 1000:
                start = time.perf_counter()
                sample(env, k, 1000, rng=0)
                line += f"  sample 1000 in {time.perf_counter() - start:.2f} s"
            print(line, flush=True)


def saddle_and_grade() -> None:
    cell = bulk("Cu", "bcc", a=2.87, cubic=True).repeat(3)  # 54 sites
    vacancy = cell.positions[0].copy()
    start = cell.copy()
    del start[0]
    hopper = int(np.argmin(np.linalg.norm(start.positions - vacancy, axis=1)))
    end = start.copy()
    end.positions[hopper] = vacancy
    rng = np.random.default_rng(0)
    train = []
    for k in range(40):
        atoms = (start if k % 2 else end).copy()
        t = rng.uniform(0, 1)
        atoms.positions[hopper] = (1 - t) * start.positions[hopper] + t * vacancy
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        atoms.get_forces()
        train.append(atoms)
    options = BPNNOptions(
        n_members=4, hidden=(16, 16), cutoff_A=4.5, fit={"epochs": 60}
    )
    model = get_backend("bpnn").build(("Cu",), options, seed=0)
    begin = time.perf_counter()
    model.fit(train, options.fit, seed=0)
    fit_s = time.perf_counter() - begin
    begin = time.perf_counter()
    result = find_saddle(start, end, model.calculator(), fmax_eV_A=0.03)
    print(
        f"saddle, BPNN committee M=4, {len(start)} atoms: "
        f"{time.perf_counter() - begin:.1f} s, method {result.method}, "
        f"converged {result.converged}, connects {result.connects}, "
        f"steps {result.steps}, calls {result.calls}, barrier "
        f"{result.barrier_forward:.3f} eV (fit {fit_s:.0f} s)"
    )
    reference = find_saddle(start, end, EMT(), fmax_eV_A=0.03)
    print(f"saddle, EMT itself: barrier {reference.barrier_forward:.3f} eV")
    grade = ExtrapolationGrade.from_training(model, train)
    big = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((5, 5, 1))  # 100 atoms
    big.rattle(0.05, seed=1)
    grade.structure(model, big)
    begin = time.perf_counter()
    repeats = 20
    for _ in range(repeats):
        gamma = grade.structure(model, big)
    per = (time.perf_counter() - begin) / repeats
    print(
        f"gamma, {len(big)} atoms: {1e3 * per:.1f} ms per structure (γ = {gamma:.2f})"
    )


if __name__ == "__main__":
    environments()
    saddle_and_grade()
