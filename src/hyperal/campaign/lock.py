"""One writer per store: an exclusive lock held for the whole of a run.

The lock is a file ``<store>.lock`` beside an SQLite store (for a PostgreSQL
URL, in the store's checkpoint folder) on which the running process holds an
``fcntl.flock``: the operating system releases it when the process ends, even
by SIGKILL, so a lock left by a killed run is never mistaken for a live one —
the next run finds the file unlocked and takes it over. The file also names
the holder (pid, host, start time) for the message a second run prints.
Advisory locks need a file system that supports them (local disks, most
cluster file systems; NFS only with lockd).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path


class StoreLocked(RuntimeError):
    """Another live process is writing the store (one line: who)."""


class StoreLock:
    """Hold the store's lock (a context manager)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._handle = None

    def __enter__(self) -> StoreLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            try:
                who = json.loads(holder)
                text = (
                    f"pid {who['pid']} on {who['host']}, running since {who['started']}"
                )
            except (ValueError, KeyError, TypeError):
                text = "another process"
            raise StoreLocked(
                f"the store is being written by {text} (lock {self.path}); wait "
                "for it to finish or stop it, then run again"
            ) from None
        # ours: the holder before us (if any) has ended; record who we are
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
        )
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
