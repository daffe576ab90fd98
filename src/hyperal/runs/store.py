"""The campaign store: one ase.db (SQLite by default; a PostgreSQL URL works),
written by the coordinator only, one transaction per result.

Every structure is a row with the key-value pairs ``name`` (unique within the
store: what makes a resumed run skip work already done), ``run``, ``loop``,
``stage``, ``source``, ``scheme``, ``split``, ``start_index`` (and ``frame``),
``uncertainty`` (σ_U at selection, eV), ``structure_key`` (a hash of the
numbers, positions, cell and pbc: :func:`structure_key`) and
``oracle_status``, with ``oracle_reason`` when failed or skipped (the values
declared in :mod:`hyperal.runs.records`), written as a typed
:class:`~hyperal.runs.query.Row`. A structure whose label is
already in the store is never labelled again: :meth:`Store.reuse_label`
copies it (``cached=1``: no oracle call was made). A label is written into
its row the moment it arrives — energy, forces (and stress) as the row's
calculator results, the oracle's name — so a killed run loses none. Per-loop
metrics and the errors on the final frozen test sets are rows of their own
(``stage="metrics"`` / ``"final"``, an empty structure, the figures in
``data``);
committee checkpoints are directories beside the database,
``<store>.checkpoints/<run>/loop-<k>/`` — for a PostgreSQL store, in the
working directory, ``<database>@<host>-<port>.checkpoints``, so each
campaign database has its own.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.db import connect

from hyperal.oracle import Label
from hyperal.runs.lock import PostgresLock, StoreLock
from hyperal.runs.query import Row, Where
from hyperal.runs.records import (
    MAIN_RUN,
    SPLITS,
    STAGES,
    OracleStatus,
    Stage,
    final_name,
    metrics_name,
)
from hyperal.runs.results import FinalErrors, LoopMetrics

ALL = Where()


class StoreError(ValueError):
    """A store path that cannot be a campaign store (one line)."""


def _check_sqlite(path: Path) -> None:
    """Refuse a file that is not an ase.db (another SQLite database, or not
    a database at all) before ASE writes its tables into it."""
    if not path.exists() or path.stat().st_size == 0:
        return
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a campaign store")
    try:
        # read-write, as every writer opens it: a run SIGKILLed inside a
        # transaction leaves a hot journal that SQLite rolls back on this first
        # read; a read-only connection cannot, and would call the store broken
        with sqlite3.connect(path) as db:
            tables = {
                name
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'"
                )
            }
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not an SQLite database ({exc})") from None
    if "systems" not in tables:
        raise StoreError(
            f"{path}: an SQLite database that is not an ase.db (tables: "
            f"{', '.join(sorted(tables)) or 'none'}); refusing to write into it"
        )


#: Store layout version, in the ase.db metadata; 1 added ``run`` and
#: ``start_index`` to every row (older stores are upgraded when opened).
LAYOUT = 1


class Store:
    """The campaign's ase.db and checkpoint folder.

    Parameters
    ----------
    path : str or Path
        SQLite file (``campaign.db``) or a ``postgresql://`` URL.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        if not self.path.startswith("postgres"):
            _check_sqlite(Path(self.path))
        # No ase.db lock file: SQLite's own transactions make each write atomic,
        # the coordinator is the only writer, and the lock file that ASE
        # creates would survive a SIGKILL and block every later run forever.
        try:
            self.db = connect(self.path, use_lock_file=False)
            self._upgrade()
        except ImportError as exc:
            raise StoreError(
                f"{display_url(self.path)}: a PostgreSQL store needs the postgres "
                f"extra (pip install 'hyperal[postgres]'): {exc}"
            ) from None
        except Exception as exc:
            if not self.path.startswith("postgres"):
                raise
            # a server that is down, a wrong password or database name
            text = " ".join(str(exc).split())
            raise StoreError(
                f"{display_url(self.path)}: cannot connect: {text}"
            ) from None
        self.checkpoints = checkpoint_folder(self.path)

    def _upgrade(self) -> None:
        """Give rows of a store written before runs existed their ``run``
        and ``start_index`` (read once, here, from the names of that layout)."""
        metadata = self.db.metadata
        if metadata.get("hyperal_layout", 0) >= LAYOUT:
            return
        with self.db:
            for row in self.db.select():
                if "run" in row.key_value_pairs:
                    continue
                pairs = {"run": MAIN_RUN}
                name = row.get("name", "")
                initial = re.fullmatch(r"init-(\d+)-(\d+|failed)", name)
                loop_row = re.fullmatch(r"L\d+-(?:start|sel)-(\d+)", name)
                if initial:
                    pairs["start_index"] = int(initial[1])
                    if initial[2] != "failed":
                        pairs["frame"] = int(initial[2])
                elif loop_row:
                    pairs["start_index"] = int(loop_row[1])
                self.db.update(row.id, **pairs)
        self.db.metadata = dict(metadata, hyperal_layout=LAYOUT)

    # --- what the store is for ---------------------------------------------------

    def set_setting(self, key: str, value: dict) -> None:
        """Record ``value`` (JSON-like) under ``key`` in the store's metadata
        (the campaign or benchmark settings it was written with)."""
        self.db.metadata = {**self.db.metadata, key: _plain(value)}

    def setting(self, key: str) -> dict | None:
        return self.db.metadata.get(key)

    # --- structures -----------------------------------------------------------------

    def add(self, entries: Iterable[tuple]) -> list[int]:
        """Write structures in one transaction; returns their row ids.

        Each entry is ``(atoms, row)`` or ``(atoms, row, label)``: the
        :class:`~hyperal.runs.query.Row` (its ``name`` must be new) and, when
        the label came with the structure (an oracle relaxation step), the
        label itself — stored in the same transaction, so no structure is ever
        written without the label that came with it.
        """
        ids = []
        with self.db:
            for atoms, row, *label in entries:
                if not isinstance(row, Row):
                    raise TypeError(f"a store entry's row is a Row, not {row!r}")
                stored, extra = _row(atoms, label[0] if label else None)
                pairs = {
                    "structure_key": structure_key(atoms),
                    **row.pairs(),
                    **extra,
                }
                ids.append(self.db.write(stored, key_value_pairs=pairs))
        return ids

    def names(self, where: Where = ALL) -> set[str]:
        """``name`` of every row matching ``where``."""
        return {row.name for row in self._select(where)}

    def count(self, where: Where = ALL) -> int:
        """Rows matching ``where``."""
        query, pairs = where.selection()
        return self.db.count(query, **pairs)

    def _select(self, where: Where, **options):
        query, pairs = where.selection()
        return self.db.select(query, sort="id", **options, **pairs)

    def oracle_seconds(self, run: str = MAIN_RUN) -> float:
        """Seconds the oracle spent on ``run``'s labels (those it timed)."""
        return float(
            sum(
                row.get("oracle_seconds", 0.0)
                for row in self.db.select("oracle_seconds>0", run=run)
            )
        )

    def untimed_labels(self, run: str = MAIN_RUN) -> int:
        """``run``'s loop-0 labels that carry no time: written by a hyperal
        that did not time loop 0 (zero for a store written since)."""
        pairs = {"stage": Stage.INITIAL.value, "oracle_status": "ok", "run": run}
        return self.db.count(**pairs) - self.db.count("oracle_seconds>0", **pairs)

    def rows(self, where: Where = ALL) -> list:
        """Rows matching ``where``, in id order (the database filters them)."""
        return list(self._select(where))

    def first(self, where: Where = ALL):
        """The first row (in id order) matching ``where``, or None."""
        return next(self._select(where, limit=1), None)

    def update(self, changes: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """Set key-value pairs of rows, ``(row id, pairs)`` each, in one
        transaction (all or none land)."""
        with self.db:
            for row_id, pairs in changes:
                self.db.update(row_id, **_declared(pairs))

    def record_label(self, row_id: int, label: Label, *, cached: bool = False) -> None:
        """Write one oracle result into its row (one transaction); ``cached``
        marks a label copied from an identical structure."""
        row, extra = _row(self.db.get(id=row_id).toatoms(), label)
        if cached:
            extra["cached"] = 1
        self.db.update(row_id, atoms=row if label.ok else None, **extra)

    def supersede_failed_initial(self, run: str, change: int) -> int:
        """After an accepted oracle change: the initial trajectories of ``run``
        without one good label are set aside — kept, renamed
        ``<name>~oracle<change>`` and marked ``superseded`` — so the new oracle
        relaxes those starts again. Returns the rows set aside."""
        rows = self.rows(Where(stage=Stage.INITIAL, run=run))
        good = {r.start_index for r in rows if r.oracle_status == "ok"}
        aside = [
            r for r in rows if r.start_index not in good and not r.get("superseded")
        ]
        with self.db:
            for r in aside:
                self.db.update(r.id, name=f"{r.name}~oracle{change}", superseded=change)
        return len(aside)

    def reuse_label(self, row_id: int) -> bool:
        """Give row ``row_id`` the label of an identical structure already
        labelled ok in the store (``cached=1``, no oracle call); False when
        there is none. The oracle cache that lets runs sharing a store (a
        benchmark's schemes) pay for a shared structure once."""
        row = self.db.get(id=row_id)
        key = row.get("structure_key")
        if key is None:
            return False
        for found in self.db.select(structure_key=key, oracle_status="ok", limit=1):
            calc = found.toatoms().calc
            label = Label(
                "ok",
                calc.results["energy"],
                calc.results["forces"],
                calc.results.get("stress"),
                oracle=found.get("oracle", ""),
            )
            self.record_label(row_id, label, cached=True)
            return True
        return False

    def failure_reasons(self, run: str | None = None) -> list[tuple[str, int]]:
        """Failed labels counted by reason (most frequent first)."""

        selection = {} if run is None else {"run": run}
        reasons = Counter(
            row.get("oracle_reason", "?")[:120]
            for row in self.db.select(oracle_status="failed", **selection)
        )
        return reasons.most_common()

    def oracle_calls(self, where: Where = ALL) -> int:
        """Oracle calls paid for the rows matching ``where``: labels ok or
        failed, not counting those copied from an identical structure."""
        ok = self.count(where.replace(status=OracleStatus.OK))
        failed = self.count(where.replace(status=OracleStatus.FAILED))
        return (
            ok + failed - self.count(where.replace(status=OracleStatus.OK, cached=True))
        )

    def labelled(
        self,
        *,
        split: str | Sequence[str],
        max_loop: int | None = None,
        runs: Sequence[str] | None = None,
    ) -> list[Atoms]:
        """Structures of ``split`` with an ok label (of ``runs``, default all;
        up to ``max_loop``), as Atoms whose calculator holds the reference
        results (``info`` gets the row's key-value pairs), ordered by loop,
        stage, start and frame."""
        splits = [split] if isinstance(split, str) else list(split)
        query = None if max_loop is None else f"loop<={int(max_loop)}"
        by_run = [{}] if runs is None else [{"run": run} for run in runs]
        rows = [
            row
            for s in splits
            for run in by_run
            for row in self.db.select(query, split=str(s), oracle_status="ok", **run)
        ]

        # by where a structure comes from, not by arrival (results arrive in
        # completion order) nor by name (which holds the run): a fit sees the
        # same data in the same order on every rerun, and runs that share a
        # store see shared and own structures in the same order
        def origin(row):
            return (
                row.get("loop", 0),
                row.get("stage") != Stage.INITIAL.value,
                row.get("start_index", -1),
                row.get("frame", -1),
                row.name,
            )

        out = []
        for row in sorted(rows, key=origin):
            atoms = row.toatoms(add_additional_information=False)
            atoms.info.update(row.key_value_pairs)
            out.append(atoms)
        return out

    # --- metrics and checkpoints --------------------------------------------------

    def put_data(
        self, stage: StrEnum, name: str, run: str, loop: int, data: dict
    ) -> None:
        """A data row (no structure) of ``stage`` for ``run``'s ``loop``,
        replacing an older one, in one transaction."""
        with self.db:
            for row in self.db.select(stage=stage.value, loop=loop, run=run):
                del self.db[row.id]
            self.db.write(
                Atoms(),
                key_value_pairs=Row(
                    name, run, stage, loop, status=OracleStatus.NONE
                ).pairs(),
                data=_plain(data),
            )

    def data_rows(self, stage: StrEnum, run: str) -> list:
        """The data rows of ``stage`` for ``run``, in loop order."""
        return sorted(self.db.select(stage=stage.value, run=run), key=lambda r: r.loop)

    def add_metrics(self, metrics: LoopMetrics) -> None:
        """The metrics row of ``metrics.loop`` of ``metrics.run`` (replacing
        an older one)."""
        self.put_data(
            Stage.METRICS,
            metrics_name(metrics.run, metrics.loop),
            metrics.run,
            metrics.loop,
            {"metrics": metrics.to_store()},
        )

    def metrics(self, run: str = MAIN_RUN) -> list[LoopMetrics]:
        """Per-loop metrics of ``run``, loop order."""
        return [
            LoopMetrics.from_store(row.loop, row.data["metrics"])
            for row in self.data_rows(Stage.METRICS, run)
        ]

    def add_final(self, final: FinalErrors) -> None:
        """``final.run``'s errors of loop ``final.loop`` on the final frozen
        test sets (replacing older ones)."""
        self.put_data(
            Stage.FINAL,
            final_name(final.run, final.loop),
            final.run,
            final.loop,
            {"final": final.model_dump()},
        )

    def final(self, run: str = MAIN_RUN) -> list[FinalErrors]:
        """``run``'s errors on the final frozen test sets, loop order."""
        return [
            FinalErrors.model_validate(row.data["final"])
            for row in self.data_rows(Stage.FINAL, run)
        ]

    def runs(self) -> list[str]:
        """Every run with metrics in the store."""
        return sorted({row.run for row in self.db.select(stage=Stage.METRICS.value)})

    def lock(self):
        """The store's one-writer lock (:class:`~hyperal.runs.lock.StoreLock`),
        to hold for the whole of a run."""

        if self.path.startswith("postgres"):
            return PostgresLock(self.path)
        return StoreLock(f"{self.path}.lock")

    def checkpoint_path(self, loop: int, run: str = MAIN_RUN) -> Path:
        """Directory of ``run``'s committee checkpoint after ``loop`` (it
        exists once that fit has finished)."""
        return self.checkpoints / run / f"loop-{loop}"


def display_url(url: str) -> str:
    """A store path for messages: a URL's password replaced by ***."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def checkpoint_folder(path: str) -> Path:
    """Where a store's checkpoints live: ``<store>.checkpoints`` beside an
    SQLite file; for a PostgreSQL URL ``<database>@<host>-<port>.checkpoints``
    in the working directory (absolute, for workers elsewhere)."""
    if not path.startswith("postgres"):
        return Path(f"{path}.checkpoints")

    url = urlparse(path)
    database = url.path.lstrip("/") or url.username or "postgres"
    name = f"{database}@{url.hostname or 'localhost'}-{url.port or 5432}"
    return Path.cwd() / (re.sub(r"[^A-Za-z0-9_.@-]", "_", name) + ".checkpoints")


def structure_key(atoms: Atoms) -> str:
    """A hash of ``atoms``' numbers, positions, cell and pbc (positions and
    cell rounded to 1e-6 Å): equal for the same structure stored twice."""
    digest = hashlib.sha256()
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    for array in (atoms.positions, atoms.cell.array):
        digest.update((np.round(np.asarray(array, float), 6) + 0.0).tobytes())
    digest.update(np.asarray(atoms.pbc, dtype=bool).tobytes())
    return digest.hexdigest()[:32]


def _row(atoms: Atoms, label: Label | None) -> tuple[Atoms, dict[str, Any]]:
    """The Atoms to store (no info, standard arrays only; the label's results
    as its calculator) and the label's key-value pairs."""
    row = atoms.copy()
    row.info = {}
    for key in list(row.arrays):
        if key not in ("numbers", "positions", "momenta", "tags"):
            del row.arrays[key]
    if label is None:
        return row, {}
    extra: dict[str, Any] = {
        "oracle": label.oracle,
        "oracle_seconds": float(label.seconds),
    }
    if label.directory:  # the call's kept working folder
        extra["oracle_workdir"] = label.directory
    if label.ok:
        results = {
            "energy": label.energy,
            "free_energy": label.energy,
            "forces": label.forces,
        }
        if label.stress is not None:
            results["stress"] = label.stress
        row.calc = SinglePointCalculator(row, **results)
        extra["oracle_status"] = "ok"
    else:
        extra["oracle_status"] = "failed"
        extra["oracle_reason"] = label.reason[:500] or "failed"
    return row, extra


def _declared(pairs: dict[str, Any]) -> dict[str, Any]:
    """``pairs`` with a stage or split as its declared value (one nobody
    declared raises)."""
    out = dict(pairs)
    for key, registry in (("stage", STAGES), ("split", SPLITS)):
        if key in out:
            out[key] = registry[str(out[key])].value
    return out


def _plain(value):
    """JSON-friendly copy: numpy scalars and arrays to Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
