"""A real single-node Slurm for tests: munged, slurmctld and slurmd on this
machine, configured in a temporary folder (Debian's ``slurm-wlm`` and
``munge``; ``.ci/run`` installs them). :func:`start` returns why it cannot
run instead of raising, so the test skips with that reason."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


@dataclass
class SlurmNode:
    conf: Path
    folder: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *command: str) -> str:
        return subprocess.run(
            command, env=self.env(), capture_output=True, text=True, timeout=30
        ).stdout

    def jobs(self, name: str) -> list[str]:
        """Ids of this node's running or pending jobs named ``name``."""
        return self.run("squeue", "-h", "-n", name, "-o", "%i").split()

    def submitted(self) -> list[str]:
        """Ids of every job submitted to this node so far (slurmctld's log:
        a job cancelled before it started leaves no output file)."""
        log = self.folder / "slurmctld.log"
        text = log.read_text() if log.exists() else ""
        return re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", text)

    def stop(self) -> None:
        self.run("scancel", "--user", "root")
        for daemon in ("slurmd", "slurmctld"):
            pid = self.folder / f"{daemon}.pid"
            if pid.exists():
                try:
                    os.kill(int(pid.read_text().strip()), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


CONF = """\
ClusterName=hyperaltest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName={host} CPUs=8 RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


def _munge_running() -> bool:
    try:
        encoded = subprocess.run(
            ["munge", "-n"], capture_output=True, timeout=10, check=True
        ).stdout
        subprocess.run(["unmunge"], input=encoded, capture_output=True, check=True)
        return True
    except (OSError, subprocess.SubprocessError):
        return False


def start(folder: Path) -> SlurmNode | str:
    """Start a single-node Slurm configured in ``folder``; the node, or why
    it cannot start."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        return (
            f"no Slurm here ({', '.join(missing)} missing): apt-get install "
            "slurm-wlm munge (.ci/run does)"
        )
    if os.geteuid() != 0:
        return "a test Slurm node needs root (slurmd runs jobs as their user)"
    if not _munge_running():
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=False)
        time.sleep(1)
        if not _munge_running():
            return "munged would not start (is /etc/munge/munge.key there?)"
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(
        CONF.format(
            host=host, folder=folder, ctld_port=_free_port(), d_port=_free_port()
        )
    )
    node = SlurmNode(conf, folder)
    subprocess.run(["slurmctld", "-i", "-f", str(conf)], env=node.env(), check=False)
    subprocess.run(["slurmd", "-f", str(conf)], env=node.env(), check=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "idle" in node.run("sinfo", "-h", "-o", "%t"):
            return node
        time.sleep(1)
    node.stop()
    log = (
        (folder / "slurmctld.log").read_text()[-500:]
        if (folder / "slurmctld.log").exists()
        else ""
    )
    return f"the test Slurm node did not become idle in 60 s: {log}"
