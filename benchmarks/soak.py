"""Soak test: a campaign on the process executor with a flaky oracle, its
coordinator SIGKILLed at random moments and restarted, one pool worker
killed; compared at the end with an uninterrupted run of the same seed.

The oracle (:class:`hyperal.testing.SoakEMT`) fails like a cluster DFT code
— about 10 % of calls raise, 5 % return NaN forces, 2 % hang past the
oracle's time limit — deterministically by structure, and logs every call
when it starts (``called``, or ``called-again`` when the store already holds
a label for that structure) and when it hands back a result (``returned``).

Printed, the last line::

    calls=… kills=… lost=… duplicated=… same_training_set=yes|no

- ``calls``: oracle calls of the killed-and-resumed run (its log's starts);
- ``kills``: coordinator SIGKILLs (the worker kill is printed above);
- ``lost``: structures the oracle's log shows a result returned for that the
  store holds no label of (ok or failed) at the end;
- ``duplicated``: calls for a structure whose label the store already held;
- ``same_training_set``: every loop's committee was fitted on the same
  structures (by name, in order) as the uninterrupted run's, and their
  stored energies agree within 1e-4 eV (a selected frame comes from a
  float32 MD run).

Calls whose results were thrown away by a kill (in flight, or a part of an
initial relaxation that is stored when the relaxation ends) are paid again
on resume; they are printed as ``repaid``, not counted as lost.

    python benchmarks/soak.py            # >= 500 oracle calls, >= 10 kills
    python benchmarks/soak.py --quick    # <= 3 minutes, >= 3 kills
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus

ROOT = Path(__file__).resolve().parents[1]

SYSTEM = {
    "elements": ["Cu", "Ni", "Pd"],
    "metal_phases": [
        {"prototype": "fcc", "species": ["Cu", "Ni", "Pd"], "repeat": [2, 2, 2]}
    ],
    "derive_metal": {"displacement_std_A": 0.1, "von_mises_strain": [0.0, 0.05]},
    "random": {"cutoff_A": 4.0, "density_g_cm3": [8.0, 10.0]},
}


def campaign(folder: Path, quick: bool) -> dict:
    """The soak campaign: full ~ 540 oracle calls, quick ~ 115."""
    initial = (
        {"structures": 6, "relax_steps": 6, "rattle_A": 0.15}
        if quick
        else {"structures": 12, "relax_steps": 8, "rattle_A": 0.15}
    )
    counts = (
        {"derived_metal": 16, "derived_oxide": 0, "random": 2}
        if quick
        else {"derived_metal": 32, "derived_oxide": 0, "random": 4}
    )
    return {
        "system": SYSTEM,
        "oracle": {
            "name": "hyperal.testing:SoakEMT",
            "kwargs": {
                "log": str(folder / "oracle.log"),
                "store": str(folder / "soak.db"),
                "hang_s": 4.0,
            },
            "timeout_s": 1.5,
        },
        "initial": initial,
        "counts": counts,
        "scheme": {"name": "md", "steps": 8},
        "committee": {"n_members": 2, "hidden": [8], "cutoff_A": 4.0, "epochs": 15},
        "executor": {"kind": "process", "workers": 2},
        "loops": 5 if quick else 13,
        "seed": 5,
        "store": str(folder / "soak.db"),
    }


def _env() -> dict:
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }


def _start(config: Path, errors: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hyperal.cli.main", "run", str(config)],
        cwd=config.parent,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=errors.open("a"),  # a file: a full pipe would block the child
    )


def _children(process: subprocess.Popen) -> list:
    import psutil

    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        return []


def _pool_workers(process: subprocess.Popen) -> list:
    """The coordinator's process-pool workers (not multiprocessing's
    resource tracker)."""
    workers = []
    for child in _children(process):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except Exception:  # gone meanwhile
            pass
    return workers


def _reap(orphans) -> None:
    """Workers a killed coordinator left behind exit when their queue closes;
    wait for them (and kill any that linger) so the next run starts clean."""
    import psutil

    _, alive = psutil.wait_procs(orphans, timeout=10)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass


def run_uninterrupted(folder: Path, quick: bool) -> float:
    config = folder / "soak.yaml"
    config.write_text(yaml.safe_dump(campaign(folder, quick)))
    start = time.monotonic()
    process = _start(config, folder / "stderr.txt")
    if process.wait() != 0:
        sys.exit(f"the uninterrupted run failed: {(folder / 'stderr.txt').read_text()}")
    return time.monotonic() - start


def run_killed(
    folder: Path, quick: bool, kills: int, seed: int, window: tuple[float, float]
) -> tuple[int, int, int, float]:
    """Run to the end, SIGKILLing the coordinator ``kills`` times after a
    random delay in ``window`` seconds of each start, and killing one pool
    worker once (the restart after it counts as a restart, not a kill).
    Returns (coordinator kills, worker kills, restarts, seconds)."""
    config = folder / "soak.yaml"
    config.write_text(yaml.safe_dump(campaign(folder, quick)))
    errors = folder / "stderr.txt"
    rng = random.Random(seed)
    killed = workers_killed = restarts = 0
    worker_at = rng.randrange(1, kills)  # which restart loses a worker instead
    start = time.monotonic()
    while True:
        process = _start(config, errors)
        if killed < kills:
            delay = rng.uniform(*window)
            try:
                process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                workers = _pool_workers(process)
                if killed == worker_at and not workers_killed:
                    # on a busy machine the pool may not have started yet:
                    # wait for a worker to kill rather than skip the kill
                    deadline = time.monotonic() + 120
                    while not workers and process.poll() is None:
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.2)
                        workers = _pool_workers(process)
                orphans = _children(process)
                if killed == worker_at and not workers_killed and workers:
                    workers[0].kill()  # one pool worker dies mid-task
                    workers_killed += 1
                    code = process.wait()  # the coordinator ends on its own
                    print(
                        f"worker killed after {delay:.1f} s: the coordinator "
                        f"ended with status {code}",
                        flush=True,
                    )
                    _reap(orphans)
                    restarts += code != 0
                    continue
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed += 1
                _reap(orphans)
                print(f"kill {killed} after {delay:.1f} s", flush=True)
                continue
        code = process.wait()
        if code != 0:
            restarts += 1
            if restarts > kills + 5:
                sys.exit(f"the run keeps failing: {errors.read_text()[-3000:]}")
            continue
        return killed, workers_killed, restarts, time.monotonic() - start


def _log(folder: Path) -> list[tuple[str, str]]:
    lines = (folder / "oracle.log").read_text().split("\n")
    return [tuple(line.split()) for line in lines if line.strip()]


def _training(folder: Path) -> list[list[str]]:
    from hyperal.models.checkpoint import read_manifest
    from hyperal.runs.store import Store

    store = Store(folder / "soak.db")
    loops = [m.loop for m in store.metrics()]
    return [
        read_manifest(store.checkpoint_path(loop)).extra["training_names"]
        for loop in loops
    ]


def compare(killed: Path, reference: Path) -> dict:
    from hyperal.runs.store import Store

    log = _log(killed)
    store = Store(killed / "soak.db")
    rows = store.rows()
    labelled = {
        r.get("structure_key") for r in rows if r.oracle_status in ("ok", "failed")
    }
    returned = {key for key, event in log if event == "returned"}
    starts = Counter(event for _, event in log if event.startswith("called"))
    calls = sum(starts.values())
    reference_calls = sum(
        1 for _, event in _log(reference) if event.startswith("called")
    )
    names = _training(killed)
    expected = _training(reference)
    same = names == expected
    if same:
        mine = {r.name: r.energy for r in rows if r.oracle_status == "ok"}
        theirs = {
            r.name: r.energy
            for r in Store(reference / "soak.db").rows(Where(status=OracleStatus.OK))
        }
        same = all(abs(mine[n] - theirs[n]) <= 1e-4 for n in names[-1])
    return {
        "calls": calls,
        "reference_calls": reference_calls,
        "repaid": calls - reference_calls,
        "lost": len(returned - labelled),
        "duplicated": starts["called-again"],
        "same_training_set": "yes" if same else "no",
        "loops": len(names),
        "training": len(names[-1]) if names else 0,
        "failed": sum(r.oracle_status == "failed" for r in rows),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="<= 3 min, >= 3 kills")
    parser.add_argument("--kills", type=int, help="coordinator kills (10; quick 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill times")
    parser.add_argument("--keep", type=Path, help="keep both runs in this folder")
    args = parser.parse_args(argv)
    kills = args.kills or (3 if args.quick else 10)
    if kills < 2:
        parser.error("--kills must be >= 2 (one restart loses a worker)")
    window = (3.0, 8.0) if args.quick else (4.0, 20.0)
    base = Path(args.keep or tempfile.mkdtemp(prefix="hyperal-soak-"))
    reference, killed = base / "reference", base / "killed"
    for folder in (reference, killed):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    seconds = run_uninterrupted(reference, args.quick)
    print(f"uninterrupted run: {seconds:.0f} s", flush=True)
    n_killed, n_workers, restarts, spent = run_killed(
        killed, args.quick, kills, args.seed, window
    )
    figures = compare(killed, reference)
    print(
        f"killed run: {spent:.0f} s, {n_killed} coordinator kills, {n_workers} "
        f"worker kill(s), {restarts} restart(s) after a failure; "
        f"{figures['loops']} loops, {figures['training']} training structures, "
        f"{figures['failed']} failed labels; oracle calls {figures['calls']} "
        f"(uninterrupted {figures['reference_calls']}, repaid after kills "
        f"{figures['repaid']})"
    )
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)
    print(
        f"calls={figures['calls']} kills={n_killed} lost={figures['lost']} "
        f"duplicated={figures['duplicated']} "
        f"same_training_set={figures['same_training_set']}"
    )
    ok = (
        figures["lost"] == 0
        and figures["duplicated"] == 0
        and figures["same_training_set"] == "yes"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
