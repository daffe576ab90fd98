"""How busy a pool of oracle workers is: today's strict order against the
streaming pipeline, side by side in one run.

The demo campaign (``examples/campaign_demo.yaml``) with an oracle that
sleeps ``--sleep`` seconds per call (``hyperal.testing:SleepyEMT``, a
stand-in for a DFT code that holds a worker without using its core) on a
local pool of ``--workers`` process workers, in two shapes:

* **demo**: the demo campaign as it is (16 starts a loop, 40 steps of
  steered contour exploration, 80 epochs): with cheap labels its workers
  wait on each loop's serial part (a fit, the slowest evolution);
* **oracle-bound** (``--starts``, ``--steps``, ``--epochs``): the shape of a
  DFT campaign, where the oracle dominates — more starts a loop than workers
  (several rounds of labels), short evolutions (plain MD) and short fits —
  so the figure measures how the labels are scheduled, not CPU contention;

each twice:

* **strict** (``executor.background_labels: false``): evolve all -> label
  all -> fit, each wave waiting for the slowest task of the one before;
* **streaming** (the default): each selected frame labelled the moment its
  evolution lands, the difficult starts labelled meanwhile, the next loop's
  difficult starts labelled while the committee fits.

Every task on the pool (oracle relaxations, labels, evolutions, fits,
predictions) is timed on its worker (:class:`hyperal.runs.TimedExecutor`);
the utilisation is busy worker-seconds / available worker-seconds from the
campaign's start to its end. Both orders must give the same labels (checked:
the same oracle calls). Prints figures; asserts nothing. The last line is
machine-readable.

Run:  python benchmarks/pipeline.py [--sleep 2] [--workers 8] [--loops 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from hyperal.campaign import Campaign, parse_config
from hyperal.runs.executors import busy_seconds, utilisation

DEMO = Path(__file__).resolve().parents[1] / "examples" / "campaign_demo.yaml"


def run(args, streaming: bool, shape: str) -> dict:
    data = yaml.safe_load(DEMO.read_text())
    data["loops"] = args.loops
    if shape == "oracle-bound":
        data["counts"] = {"derived_metal": args.starts, "derived_oxide": 0, "random": 0}
        data["scheme"] = {"name": "md", "steps": args.steps}
        data["committee"]["fit"]["epochs"] = args.epochs
    data["oracle"] = {
        "name": "hyperal.testing:SleepyEMT",
        "kwargs": {"seconds": args.sleep},
    }
    data["executor"] = {
        "kind": "process",
        "workers": args.workers,
        "background_labels": streaming,
    }
    with tempfile.TemporaryDirectory() as tmp:
        data["store"] = str(Path(tmp) / "pipeline.db")
        campaign = Campaign(parse_config(data))
        start = time.time()
        metrics = campaign.run()
        end = time.time()
    return {
        "wall_s": end - start,
        "oracle_calls": metrics[-1].oracle_calls,
        "utilisation": utilisation(campaign.spans, args.workers, start, end),
        "busy_s": busy_seconds(campaign.spans, start, end),
        "gentle_F": metrics[-1].errors("gentle").force_rmse_meV_A,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--loops", type=int, default=2)
    parser.add_argument(
        "--shapes", default="demo,oracle-bound", help="comma-separated shapes"
    )
    parser.add_argument(
        "--orders", default="strict,streaming", help="comma-separated orders"
    )
    parser.add_argument("--starts", type=int, default=48, help="oracle-bound")
    parser.add_argument("--steps", type=int, default=10, help="oracle-bound")
    parser.add_argument("--epochs", type=int, default=20, help="oracle-bound")
    args = parser.parse_args()
    print(
        f"{args.loops} loops, oracle sleeping {args.sleep:g} s per call, "
        f"{args.workers} process workers"
    )
    last = {}
    for shape in args.shapes.split(","):
        if shape == "oracle-bound":
            print(
                f"oracle-bound: {args.starts} starts a loop, md {args.steps} "
                f"steps, fits of {args.epochs} epochs"
            )
        results = {}
        for name in args.orders.split(","):
            results[name] = r = run(args, name == "streaming", shape)
            tasks = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(r["busy_s"].items()))
            print(
                f"{shape} {name:>9}: wall {r['wall_s']:6.1f} s, "
                f"{r['oracle_calls']} oracle calls, workers busy "
                f"{r['utilisation']:.2f} ({tasks}); gentle F RMSE "
                f"{r['gentle_F']:.0f} meV/Å"
            )
        if len(results) == 2:
            strict, streaming = results["strict"], results["streaming"]
            same = streaming["oracle_calls"] == strict["oracle_calls"]
            print(
                f"{shape}: streaming/strict wall "
                f"{streaming['wall_s'] / strict['wall_s']:.2f}; same oracle "
                f"calls: {same}"
            )
        for name, r in results.items():
            last[f"{shape}_{name}"] = {
                "utilisation": round(r["utilisation"], 3),
                "wall_s": round(r["wall_s"], 1),
            }
    print(json.dumps(last))


if __name__ == "__main__":
    main()
