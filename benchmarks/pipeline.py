"""How busy a pool of oracle workers is: today's strict order against the
streaming pipeline, side by side in one run.

The demo campaign (``examples/campaign_demo.yaml``) with an oracle that
sleeps ``--sleep`` seconds per call (``hyperal.testing:SleepyEMT``, a
stand-in for a DFT code that holds a worker without using its core) on a
local pool of ``--workers`` process workers, twice:

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
from collections import defaultdict
from pathlib import Path

import yaml

from hyperal.campaign import Campaign, parse_config
from hyperal.runs.executors import utilisation

DEMO = Path(__file__).resolve().parents[1] / "examples" / "campaign_demo.yaml"


def run(args, streaming: bool) -> dict:
    data = yaml.safe_load(DEMO.read_text())
    data["loops"] = args.loops
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
    busy = defaultdict(float)
    for span in campaign.spans:
        busy[span.task] += span.end - span.start
    return {
        "wall_s": end - start,
        "oracle_calls": metrics[-1].oracle_calls,
        "utilisation": utilisation(campaign.spans, args.workers, start, end),
        "busy_s": dict(busy),
        "gentle_F": metrics[-1].errors("gentle").force_rmse_meV_A,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--loops", type=int, default=2)
    args = parser.parse_args()
    print(
        f"demo campaign, {args.loops} loops, oracle sleeping {args.sleep:g} s "
        f"per call, {args.workers} process workers"
    )
    results = {}
    for name, streaming in (("strict", False), ("streaming", True)):
        results[name] = r = run(args, streaming)
        tasks = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(r["busy_s"].items()))
        print(
            f"{name:>9}: wall {r['wall_s']:6.1f} s, {r['oracle_calls']} oracle "
            f"calls, workers busy {r['utilisation']:.2f} ({tasks}); "
            f"gentle F RMSE {r['gentle_F']:.0f} meV/Å"
        )
    strict, streaming = results["strict"], results["streaming"]
    print(
        f"streaming/strict wall {streaming['wall_s'] / strict['wall_s']:.2f}; "
        f"same oracle calls: {streaming['oracle_calls'] == strict['oracle_calls']}"
    )
    print(
        json.dumps(
            {
                "utilisation_strict": round(strict["utilisation"], 3),
                "utilisation_streaming": round(streaming["utilisation"], 3),
                "wall_strict_s": round(strict["wall_s"], 1),
                "wall_streaming_s": round(streaming["wall_s"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
