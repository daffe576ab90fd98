"""Warm against cold committee fits, and MACE against the BPNN, on one EMT set.

Data: the random-composition, strained, rattled fcc Cu–Ni–Pd cells of
``committee_cost.py`` (32 atoms, EMT labels): a first training set of
``--first`` cells, ``--more`` new ones (the growth of one loop), and a test set.

1. Warm start (BPNN, the campaign's default options except where given): a cold
   fit on the first set (the previous loop's committee), then on the grown set
   a cold fit from fresh weights and a warm fit that continues from the first
   committee (statistics refitted, predictions preserved, ``warm_epochs`` from
   ``warm_learning_rate``). Side by side: wall time and test errors; the
   target is the cold fit's test error at <= 0.3x its time.
2. Backends: the grown set fitted by a BPNN committee and by a MACE committee
   (``--mace-members`` members, small settings) — fit time, test errors — and
   the evaluation cost of each committee against one member of it on a 108-atom
   cell (energy, forces and σ_U with its gradient).

With ``--warm-sweep EPOCHS:LR:BATCH,...`` it also refits the grown set warm
with each of those settings (epochs, first learning rate, batch size) and
prints each one's time and errors against the cold fit's.

Prints figures; asserts nothing. The last line is machine-readable.

Run:  python benchmarks/backends.py [--quick] [--no-mace] [--warm-sweep 75:0.002:8]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from committee_cost import ELEMENTS, alloy_cell, emt_dataset  # noqa: E402

from hyperal.labels import reference  # noqa: E402
from hyperal.models import BPNN, get_backend  # noqa: E402
from hyperal.models.protocol import predict  # noqa: E402
from hyperal.runs.evaluate import Labelled, summarise  # noqa: E402


def test_errors(model, test) -> tuple[float, float]:
    """Committee-mean energy RMSE (meV/atom) and force RMSE (meV/Å)."""
    refs = [Labelled(r.energy, r.forces, "test") for r in map(reference, test)]
    errors = summarise(refs, predict(model, test)).all
    return errors.energy_rmse_meV_atom, errors.force_rmse_meV_A


def eval_seconds(calc, atoms, *, calls=5) -> float:
    """Best-of-3 seconds per evaluation by ``calc`` (energy and forces, and
    for a committee σ_U and ∇σ_U) of slightly moved frames."""
    rng = np.random.default_rng(0)

    def once():
        frame = atoms.copy()
        frame.positions += rng.normal(scale=1e-3, size=frame.positions.shape)
        frame.calc = calc
        frame.get_forces()

    once()
    best = np.inf
    for _ in range(3):
        tic = time.perf_counter()
        for _ in range(calls):
            once()
        best = min(best, (time.perf_counter() - tic) / calls)
    return best


def fit(name, options, frames, *, init=None, seed=0):
    backend = get_backend(name)
    options = backend.parse_options(options)
    model = backend.build(ELEMENTS, options, seed=seed)
    report = model.fit(frames, options.fit, init=init, seed=seed)
    return model, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=120)
    parser.add_argument("--more", type=int, default=30)
    parser.add_argument("--test", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--members", type=int, default=4, help="BPNN members")
    parser.add_argument("--mace-members", type=int, default=4)
    parser.add_argument("--mace-epochs", type=int, default=40)
    parser.add_argument("--no-mace", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny run, smoke test")
    parser.add_argument(
        "--warm-sweep",
        default="",
        metavar="E:LR:B,...",
        help="more warm fits: epochs, first learning rate and batch size each",
    )
    args = parser.parse_args()
    if args.quick:
        args.first, args.more, args.test, args.epochs = 12, 4, 4, 6
        args.mace_members, args.mace_epochs = 2, 2
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    first = emt_dataset(args.first, rattle=0.1, strain=0.02, rng=rng)
    grown = first + emt_dataset(args.more, rattle=0.1, strain=0.02, rng=rng)
    test = emt_dataset(args.test, rattle=0.1, strain=0.02, rng=rng)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; "
        f"EMT Cu-Ni-Pd: {len(first)} -> {len(grown)} train, {len(test)} test cells"
    )

    bpnn = {
        "n_members": args.members,
        "hidden": [10, 10],
        "cutoff_A": 5.0,
        "fit": {"epochs": args.epochs, "energy_weight": 3.0},
    }
    previous, _ = fit("bpnn", bpnn, first, seed=args.seed)
    cold, cold_report = fit("bpnn", bpnn, grown, seed=args.seed + 1)
    warm, warm_report = fit("bpnn", bpnn, grown, init=previous, seed=args.seed + 1)
    e_prev, f_prev = test_errors(previous, test)
    e_cold, f_cold = test_errors(cold, test)
    e_warm, f_warm = test_errors(warm, test)
    ratio = warm_report.wall_s / cold_report.wall_s
    print(f"BPNN, M={args.members}: test RMSE E meV/atom, F meV/Å")
    print(f"  previous committee (first set)  E {e_prev:6.2f}  F {f_prev:6.1f}")
    print(
        f"  cold fit, grown set: {cold_report.epochs:3d} epochs "
        f"{cold_report.wall_s:6.1f} s  E {e_cold:6.2f}  F {f_cold:6.1f}"
    )
    print(
        f"  warm fit, grown set: {warm_report.epochs:3d} epochs "
        f"{warm_report.wall_s:6.1f} s  E {e_warm:6.2f}  F {f_warm:6.1f}"
    )
    print(
        f"  warm/cold time {ratio:.2f} (target <= 0.3 at equal error); "
        f"error warm/cold E {e_warm / e_cold:.2f}, F {f_warm / f_cold:.2f}"
    )
    line = (
        f"warm_over_cold_time={ratio:.3f} warm_over_cold_F={f_warm / f_cold:.3f} "
        f"warm_over_cold_E={e_warm / e_cold:.3f}"
    )
    for setting in filter(None, args.warm_sweep.split(",")):
        epochs, lr, batch = setting.split(":")
        options = {
            **bpnn["fit"],
            "warm_epochs": int(epochs),
            "warm_learning_rate": float(lr),
            "batch_size": int(batch),
        }
        model, report = fit(
            "bpnn", {**bpnn, "fit": options}, grown, init=previous, seed=args.seed + 1
        )
        e, f = test_errors(model, test)
        print(
            f"  warm {epochs} epochs from lr {lr}, batch {batch}: "
            f"{report.wall_s:6.1f} s ({report.wall_s / cold_report.wall_s:.2f}x cold)"
            f"  E {e:6.2f} ({e / e_cold:.2f}x)  F {f:6.1f} ({f / f_cold:.2f}x)"
        )

    cell = alloy_cell((3, 3, 3), np.random.default_rng(1))
    t_m = eval_seconds(cold.calculator(), cell)
    single = BPNN(ELEMENTS, n_members=1, hidden=(10, 10), cutoff=5.0)
    t_1 = eval_seconds(single.as_calculator(), cell)
    print(
        f"  evaluation, 108 atoms: M={args.members} (E, F, σ_U, ∇σ_U) "
        f"{1e3 * t_m:.1f} ms, one member (E, F) {1e3 * t_1:.1f} ms, "
        f"ratio {t_m / t_1:.2f}"
    )
    line += f" bpnn_eval_ratio={t_m / t_1:.3f}"
    if args.no_mace:
        print(line)
        return
    mace = {
        "backend": "mace",
        "n_members": args.mace_members,
        "r_max_A": 5.0,
        "num_channels": 16,
        "fit": {"max_num_epochs": args.mace_epochs, "batch_size": 8},
    }
    model, report = fit("mace", mace, grown, seed=args.seed)
    e_mace, f_mace = test_errors(model, test)
    print(
        f"MACE, M={args.mace_members} (16 channels, L=0, 2 interactions, r 5 Å, "
        f"{args.mace_epochs} epochs): fit {report.wall_s:.1f} s  "
        f"E {e_mace:6.2f}  F {f_mace:6.1f}"
    )
    print(
        f"  against the cold BPNN fit: time {report.wall_s / cold_report.wall_s:.1f}x,"
        f" F RMSE {f_mace / f_cold:.2f}x"
    )
    from mace.calculators import MACECalculator

    calc = model.calculator()
    t_mace = eval_seconds(calc, cell)
    one_model = MACECalculator(
        models=calc.inner.models[:1], device="cpu", default_dtype="float64"
    )
    t_mace_1 = eval_seconds(one_model, cell)
    print(
        f"  evaluation, 108 atoms: M={args.mace_members} {1e3 * t_mace:.1f} ms, "
        f"one member {1e3 * t_mace_1:.1f} ms, ratio {t_mace / t_mace_1:.2f}"
    )
    print(
        f"{line} mace_fit_s={report.wall_s:.1f} bpnn_fit_s={cold_report.wall_s:.1f} "
        f"mace_F={f_mace:.1f} bpnn_F={f_cold:.1f} "
        f"mace_eval_ratio={t_mace / t_mace_1:.2f}"
    )


if __name__ == "__main__":
    main()
