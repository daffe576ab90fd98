"""Does a change to the code leave the data unchanged? Runs a small campaign,
a small benchmark and a small barrier campaign (EMT, tiny committees, seeded)
and prints one digest per workflow of what its store holds: every row's
name, run, loop, stage, split, oracle status, energy, σ and selection
columns, every loop's metrics and every final evaluation — all but wall
times. Run it on two versions of the code and compare the digests; the
JSON files under ``--out`` show where two runs differ.

    python benchmarks/same_rows.py --out /tmp/after
    PYTHONPATH=<old checkout>/src python benchmarks/same_rows.py --out /tmp/before

About 4 minutes on 2 cores. Uses only APIs that the package has had since
before its run kernel (``hyperal.runs``), so it can check that move too.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import tempfile
from pathlib import Path

#: numbers compare to this many significant digits (a float summed in
#: another order is the same result)
DIGITS = 9
#: keys that measure time or place, not data
VOLATILE = ("seconds", "wall", "time", "_at", "oracle_workdir", "path", "store")

SYSTEM = {
    "elements": ["Cu", "Ni", "Pd"],
    "metal_phases": [
        {"prototype": "fcc", "species": ["Cu", "Ni", "Pd"], "repeat": [2, 2, 2]}
    ],
    "derive_metal": {"displacement_std_A": 0.1, "von_mises_strain": [0.0, 0.05]},
    "random": {"cutoff_A": 4.0, "density_g_cm3": [8.0, 10.0]},
}
CAMPAIGN = {
    "system": SYSTEM,
    "oracle": {"name": "emt"},
    "initial": {"structures": 4, "relax_steps": 4, "rattle_A": 0.15},
    "counts": {"derived_metal": 4, "derived_oxide": 0, "random": 1},
    "scheme": {"name": "advb_md", "steps": 8},
    "committee": {"n_members": 2, "hidden": [8], "cutoff_A": 4.0, "epochs": 30},
    "loops": 2,
}
BENCHMARK = {
    "campaign": {**CAMPAIGN, "scheme": {"steps": 8}},
    "variants": [
        {"name": "relax"},
        {"name": "md-random", "scheme": "md", "selection": {"rule": "random"}},
        {"name": "advb_ce", "scheme": "advb_ce"},
    ],
    "reference": "relax",
    "replicates": 2,
}
BARRIERS = {
    "system": {"elements": ["Cu", "Ni"]},
    "hops": [{"case": "fcc-vacancy", "a": 3.6}],
    "initial": {"train": 2, "random_set": 2},
    "starts": 3,
    "saddle": {"relax_steps": 60, "dimer_steps": 60, "neb_steps": 40, "neb_images": 3},
    "triage": {"artifact_force_eV_A": 0.5},
    "oracle": {"name": "emt"},
    "committee": {"n_members": 2, "hidden": [8], "cutoff_A": 4.5, "fit": {"epochs": 4}},
    "loops": 2,
}


def _store(path):
    try:
        from hyperal.runs.store import Store
    except ImportError:  # before the run kernel
        from hyperal.campaign.store import Store
    return Store(path)


def _plain(value):
    """JSON-able, with floats to :data:`DIGITS` significant digits and
    timing keys left out."""
    if isinstance(value, dict):
        return {
            str(k): _plain(v)
            for k, v in sorted(value.items())
            if not any(word in str(k) for word in VOLATILE)
        }
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float):
        return (
            value
            if not math.isfinite(value) or value == 0
            else float(f"{value:.{DIGITS}g}")
        )
    return value


def summary(path: str) -> dict:
    """What the store at ``path`` holds, in a canonical order."""
    store = _store(path)
    rows = []
    for row in store.rows():
        pairs = dict(row.key_value_pairs)
        if row.get("energy") is not None:
            pairs["energy_"] = row.energy
        pairs["numbers"] = list(row.numbers)
        pairs["positions"] = row.positions
        rows.append(_plain(pairs))
    rows.sort(key=lambda r: json.dumps(r, sort_keys=True))
    runs = sorted({r.get("run", "main") for r in rows})
    return {
        "rows": rows,
        "metrics": {
            run: [_plain(m.model_dump(mode="json")) for m in store.metrics(run)]
            for run in runs
        },
        "final": {
            run: [_plain(f.model_dump(mode="json")) for f in store.final(run)]
            for run in runs
        },
    }


def digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for JSON")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import yaml

    from hyperal.barriers.config import parse_barrier_config
    from hyperal.barriers.learn import BarrierCampaign
    from hyperal.benchmark import load_benchmark
    from hyperal.benchmark.run import Benchmark
    from hyperal.campaign import Campaign, parse_config

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = {}
        Campaign(parse_config({**CAMPAIGN, "store": str(tmp / "c.db")})).run()
        results["campaign"] = summary(str(tmp / "c.db"))
        bench_file = tmp / "bench.yaml"
        bench_file.write_text(
            yaml.safe_dump({**copy.deepcopy(BENCHMARK), "store": str(tmp / "b.db")})
        )
        bench, base = load_benchmark(bench_file)
        Benchmark(bench, base).run()
        results["benchmark"] = summary(str(tmp / "b.db"))
        BarrierCampaign(
            parse_barrier_config(
                {**copy.deepcopy(BARRIERS), "store": str(tmp / "h.db")}
            )
        ).run()
        results["barriers"] = summary(str(tmp / "h.db"))
    for name, data in results.items():
        (args.out / f"{name}.json").write_text(
            json.dumps(data, indent=1, sort_keys=True)
        )
        print(f"{name:10s} {len(data['rows']):5d} rows  digest {digest(data)}")


if __name__ == "__main__":
    main()
