"""Does a change to the code leave the data unchanged? Runs a small campaign,
a small benchmark and a small barrier campaign (EMT, tiny committees, seeded)
and prints one digest per workflow of what its store holds: every row's
name, run, loop, stage, split, oracle status, energy, σ and selection
columns, every loop's metrics and every final evaluation — all but wall
times. Run it on two versions of the code and compare the digests; the
JSON files under ``--out`` show where two runs differ.

    python benchmarks/same_rows.py --out /tmp/after
    PYTHONPATH=<old checkout>/src python benchmarks/same_rows.py --out /tmp/before

The pages drawn from the stores are checked the same way: ``--keep DIR``
keeps the stores and their files, and ``--pages-from DIR`` (no runs) writes
the campaign report, the benchmark page and the barrier report of the stores
in ``DIR`` into ``--out`` and prints one digest per page (the time it was
written left out; SVG ids fixed) — run it with the old and the new code on
the same stores.

About 4 minutes on 2 cores (``--pages-from``: about 15 s). Uses only APIs
that the package has had since before its run kernel (``hyperal.runs``), so
it can check that move too.
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


PAGES = ("campaign.html", "benchmark.html", "barriers.html")


def _numbered_ids(text: str) -> str:
    """SVG clip-path ids numbered in order of appearance (matplotlib names
    some by object identity, which differs from run to run)."""
    import re

    ids: dict[str, str] = {}
    return re.sub(
        r"\bp[0-9a-f]{10}\b",
        lambda m: ids.setdefault(m.group(0), f"p{len(ids):09d}x"),
        text,
    )


def write_pages(stores: Path, out: Path) -> None:
    """The three workflows' pages of the stores in ``stores``, through the
    commands a user types, into ``out``; one digest per page."""
    import re
    import shutil

    import matplotlib
    from typer.testing import CliRunner

    from hyperal.cli.main import app

    matplotlib.rcParams["svg.hashsalt"] = "same-pages"  # no random SVG ids
    runner = CliRunner()
    commands = (
        ["report", str(stores / "c.yaml"), "-o", str(out / PAGES[0])],
        ["benchmark", str(stores / "bench.yaml"), "--no-run"],
        ["barriers", "report", str(stores / "h.yaml"), "-o", str(out / PAGES[2])],
    )
    for command in commands:
        result = runner.invoke(app, command)
        if result.exit_code != 0:
            raise SystemExit(f"{' '.join(command)}: {result.output}")
    shutil.copy(stores / "b-results" / "benchmark.html", out / PAGES[1])
    for name in PAGES:
        text = (out / name).read_text()
        text = re.sub(r"written \d{4}-\d\d-\d\d \d\d:\d\d UTC", "", text)
        text = _numbered_ids(text)
        page = hashlib.sha256(text.encode()).hexdigest()[:16]
        print(f"{name:16s} {len(text):8d} chars  digest {page}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for JSON")
    parser.add_argument("--keep", type=Path, help="run into this folder, kept")
    parser.add_argument(
        "--pages-from", type=Path, help="no runs: the pages of the stores kept here"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.pages_from:
        write_pages(args.pages_from.resolve(), args.out.resolve())
        return
    import yaml

    from hyperal.barriers.config import parse_barrier_config
    from hyperal.barriers.learn import BarrierCampaign
    from hyperal.benchmark import load_benchmark
    from hyperal.benchmark.run import Benchmark
    from hyperal.campaign import Campaign, parse_config

    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(args.keep or scratch).resolve()
        tmp.mkdir(parents=True, exist_ok=True)
        results = {}
        campaign = {**CAMPAIGN, "store": str(tmp / "c.db")}
        (tmp / "c.yaml").write_text(yaml.safe_dump(campaign))
        Campaign(parse_config(campaign)).run()
        results["campaign"] = summary(str(tmp / "c.db"))
        bench_file = tmp / "bench.yaml"
        bench_file.write_text(
            yaml.safe_dump({**copy.deepcopy(BENCHMARK), "store": str(tmp / "b.db")})
        )
        bench, base = load_benchmark(bench_file)
        Benchmark(bench, base).run()
        results["benchmark"] = summary(str(tmp / "b.db"))
        barriers = {**copy.deepcopy(BARRIERS), "store": str(tmp / "h.db")}
        (tmp / "h.yaml").write_text(yaml.safe_dump(barriers))
        BarrierCampaign(parse_barrier_config(barriers)).run()
        results["barriers"] = summary(str(tmp / "h.db"))
    for name, data in results.items():
        (args.out / f"{name}.json").write_text(
            json.dumps(data, indent=1, sort_keys=True)
        )
        print(f"{name:10s} {len(data['rows']):5d} rows  digest {digest(data)}")


if __name__ == "__main__":
    main()
