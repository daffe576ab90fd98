"""Which uncertainty points at the errors? A score ablation on a finished
benchmark's final committees. Prints figures; asserts nothing.

For every variant and replicate, the last committee predicts a test file of
the benchmark (``--set``: a name of ``test_sets`` or ``test_file``; default
the ranking set's members) and each structure gets, beside its true
force error (the largest atomic |ΔF| and the RMS over atoms), these scores:

- ``sigma_U``: the committee's energy spread σ_U (eV), what frames were
  ranked by originally; ``sigma_U/N`` per atom;
- ``sigma_U-comp``: σ_U after removing, from each member's deviation from
  the committee mean, the part linear in the composition (element counts),
  fitted by least squares on the set itself — an upper bound on what taking
  a per-element offset out of the members could do, since it uses the very
  structures it is scored on;
- ``fsigma_max`` / ``fsigma_mean``: the members' per-atom force spread,
  largest and mean over atoms (the ``selection.score`` options).

Per score, Spearman's ρ with each error, mean over replicates with a 95 %
t interval, per variant and pooled; and how much of σ_U the composition fit
removes (median over structures of 1 − σ_U-comp/σ_U).

Last, the labels each variant needs to reach the control's final error on
the ranking set (the control: ``control``, the random-selection variant),
per replicate (linear between loops), as a fraction of the control's own
labels, with a 95 % t interval when every replicate reaches it.

    python benchmarks/uncertainty_scores.py examples/benchmark-emt-uncertainty.yaml

(from the folder the benchmark ran in; ``hyperal benchmark FILE`` first).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import spearmanr

from hyperal.benchmark import collect, load_benchmark
from hyperal.benchmark.results import calls_to_reach
from hyperal.benchmark.run import user_test_sets, variant_run
from hyperal.benchmark.statistics import t_interval
from hyperal.labels import reference_labels
from hyperal.models.checkpoint import load_checkpoint
from hyperal.runs.store import Store

SCORES = ("sigma_U", "sigma_U/N", "sigma_U-comp", "fsigma_max", "fsigma_mean")
ERRORS = ("max |dF|", "rms |dF|")


def scores_and_errors(model, images, elements):
    """Per structure: the scores of :data:`SCORES` and the errors of
    :data:`ERRORS`; and the share of σ_U the composition fit removes."""
    calc = model.calculator()
    members, fmax, fmean, err_max, err_rms, natoms = [], [], [], [], [], []
    counts = []
    for atoms in images:
        probe = atoms.copy()
        probe.calc = calc
        spread = np.asarray(calc.get_property("forces_uncertainty", probe))
        members.append(np.array(calc.results["member_energies"]))
        _, forces = reference_labels(atoms)
        delta = np.linalg.norm(np.asarray(calc.results["forces"]) - forces, axis=1)
        fmax.append(spread.max())
        fmean.append(spread.mean())
        err_max.append(delta.max())
        err_rms.append(np.sqrt(np.mean(delta**2)))
        natoms.append(len(atoms))
        counts.append([np.sum(atoms.symbols == e) for e in elements])
    members = np.array(members)
    deviation = members - members.mean(axis=1, keepdims=True)
    counts = np.array(counts, dtype=float)
    linear, *_ = np.linalg.lstsq(counts, deviation, rcond=None)
    sigma = deviation.std(axis=1)
    sigma_comp = (deviation - counts @ linear).std(axis=1)
    scores = {
        "sigma_U": sigma,
        "sigma_U/N": sigma / np.array(natoms),
        "sigma_U-comp": sigma_comp,
        "fsigma_max": np.array(fmax),
        "fsigma_mean": np.array(fmean),
    }
    errors = {"max |dF|": np.array(err_max), "rms |dF|": np.array(err_rms)}
    removed = float(np.median(1 - sigma_comp / np.where(sigma > 0, sigma, np.nan)))
    return scores, errors, removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--set", default=None, help="frozen set (default: rank_set)")
    parser.add_argument("--loop", type=int, default=None, help="committee (last)")
    args = parser.parse_args()
    bench, base = load_benchmark(args.config)
    store = Store(bench.store)
    loop = base.loops if args.loop is None else args.loop
    names = [args.set] if args.set else list(bench.rank_members)
    user = user_test_sets(bench)
    missing = [name for name in names if name not in user]
    if missing:
        parser.error(
            f"--set: {', '.join(missing)} is not a test file of the benchmark; "
            f"allowed: {', '.join(user)}"
        )
    images = [atoms for name in names for atoms in user[name]]
    elements = list(base.system.elements)
    rho: dict[tuple[str, str, str], list[float]] = {}
    removed: dict[str, list[float]] = {}
    for r in range(bench.replicates):
        for v in bench.variants:
            path = store.checkpoint_path(loop, variant_run(r, v.name))
            if not path.exists():
                continue
            model = load_checkpoint(path)
            scores, errors, share = scores_and_errors(model, images, elements)
            removed.setdefault(v.name, []).append(share)
            for s, values in scores.items():
                for e, truth in errors.items():
                    value = float(spearmanr(values, truth)[0])
                    rho.setdefault((v.name, s, e), []).append(value)
                    rho.setdefault(("all", s, e), []).append(value)
    print(
        f"Spearman rho of score and per-structure force error on "
        f"{'+'.join(names)}, committee after loop {loop}; mean over replicates "
        "[95 % t interval]"
    )
    variants = [v.name for v in bench.variants] + ["all"]
    for e in ERRORS:
        print(f"\nerror: {e}")
        print(f"{'variant':<18}" + "".join(f"{s:>22}" for s in SCORES))
        for v in variants:
            cells = []
            for s in SCORES:
                values = rho.get((v, s, e), [])
                if not values:
                    cells.append(f"{'-':>22}")
                    continue
                i = t_interval(values)
                cells.append(f"{i.mean:>8.2f} [{i.low:5.2f},{i.high:5.2f}]")
            print(f"{v:<18}" + "".join(cells))
    print("\nshare of sigma_U linear in composition (median over structures):")
    for v, values in removed.items():
        print(f"  {v:<18} {np.mean(values):.1%} (replicates {len(values)})")
    if args.loop is None:
        labels_to_control(store, bench, base)


def labels_to_control(store, bench, base) -> None:
    """Labels to reach the control's final ranking-set error, as a fraction
    of the control's labels, per variant."""
    control = bench.control_variant(base)
    if control is None:
        return
    results = collect(store, bench, base)
    curves = {(c.variant, c.replicate): c for c in results.curves}
    rank = results.rank_set
    print(
        f"\nlabels to reach {control}'s final {rank} force RMSE, as a fraction "
        f"of {control}'s labels (mean [95 % t interval]; replicates reaching it):"
    )
    for v in bench.variants:
        ratios = []
        for r in range(bench.replicates):
            target = curves[control, r]
            mine = curves[v.name, r]
            calls = calls_to_reach(
                mine.labels, mine.figure(rank), target.figure(rank)[-1]
            )
            ratios.append(None if calls is None else calls / target.labels[-1])
        reached = [x for x in ratios if x is not None]
        if len(reached) == len(ratios):
            i = t_interval(reached)
            what = f"{i.mean:.2f} [{i.low:.2f}, {i.high:.2f}]"
        else:
            what = f"> 1 in {len(ratios) - len(reached)} replicates"
        print(f"  {v.name:<18} {what}  ({len(reached)}/{len(ratios)})")


if __name__ == "__main__":
    main()
