"""Hop-path environments: how long counting, listing and sampling take.

Targets (issue: barrier tools): counting a 14-site, 3-species neighbourhood
(the bcc vacancy hop) under 1 s; listing up to 10^6 representatives under
1 min on 2 cores. Prints, for each named hop and species count, the
neighbourhood size, group orders, counts, and the wall time of building the
path group + counting, of listing every representative (when k^n <= 10^7),
and of drawing 1000 distinct environments.

Prints figures; asserts nothing.

Run:  python benchmarks/hops.py
"""

from __future__ import annotations

import time

from hyperal.barriers import named_cases, path_environment, representatives, sample
from hyperal.barriers.paths import MAX_ENUMERATED


def main() -> None:
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


if __name__ == "__main__":
    main()
