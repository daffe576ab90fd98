"""One writer per store: an exclusive lock held for the whole of a run.

For an SQLite store the lock is a file ``<store>.lock`` beside it on which
the running process holds an ``fcntl.flock``: the operating system releases
it when the process ends, even by SIGKILL, so a lock left by a killed run
is never mistaken for a live one — the next run finds the file unlocked and
takes it over. The file also names the holder (pid, host, start time) for
the message a second run prints.
Advisory locks need a file system that supports them (local disks, most
cluster file systems; NFS only with lockd).

For a PostgreSQL store the lock is a PostgreSQL advisory lock
(:class:`PostgresLock`), held by a connection of its own: it excludes
writers on every machine, and the server releases it when the holder's
connection ends, killed or not.
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
                    "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
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


def _holder() -> str:
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"pid {os.getpid()} on {socket.gethostname()}, running since {started}"


class PostgresLock:
    """Hold a PostgreSQL store's lock: ``pg_try_advisory_lock`` on a
    connection kept open for the run, its ``application_name`` naming the
    holder for the message a second run prints."""

    #: The advisory lock key (one per database: a store is one database).
    KEY = 0x68797065  # "hype"

    def __init__(self, url: str):
        self.url = url
        self._connection = None

    def __enter__(self) -> PostgresLock:
        # optional dependency (hyperal[postgres])
        import psycopg2

        name = f"hyperal: {_holder()}"[:63]  # application_name is at most 63 bytes
        connection = psycopg2.connect(self.url, application_name=name)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (self.KEY,))
            (ours,) = cursor.fetchone()
            if not ours:
                cursor.execute(
                    "SELECT a.application_name FROM pg_locks l JOIN "
                    "pg_stat_activity a ON a.pid = l.pid WHERE "
                    "l.locktype = 'advisory' AND l.objid = %s AND l.granted",
                    (self.KEY,),
                )
                found = cursor.fetchone()
                connection.close()
                who = found[0].removeprefix("hyperal: ") if found else "another process"
                raise StoreLocked(
                    f"the store is being written by {who} (PostgreSQL advisory "
                    "lock); wait for it to finish or stop it, then run again"
                )
        self._connection = connection
        return self

    def __exit__(self, *exc) -> None:
        if self._connection is not None:
            self._connection.close()  # the server releases the lock
            self._connection = None
