"""The campaign store: one ase.db (SQLite by default; a PostgreSQL URL works),
written by the coordinator only, one transaction per result.

Every structure is a row with the key-value pairs ``name`` (unique within the
store: what makes a resumed run skip work already done), ``run``, ``loop``,
``stage``, ``source``, ``scheme``, ``split``, ``start_index`` (and ``frame``),
``uncertainty`` (σ_U at selection, eV) and ``oracle_status``, with
``oracle_reason`` when failed or skipped (the values are the enums of
:mod:`hyperal.campaign.records`). A label is written into its row the moment
it arrives — energy, forces (and stress) as the row's calculator results, the
oracle's name — so a killed run loses none. Per-loop metrics are rows of
their own (``stage="metrics"``, an empty structure, the figures in ``data``);
committee checkpoints are directories beside the database,
``<store>.checkpoints/<run>/loop-<k>/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.db import connect

from hyperal.campaign.records import MAIN_RUN, Split, Stage, metrics_name
from hyperal.campaign.results import LoopMetrics
from hyperal.oracle import Label

SPLITS = tuple(Split)
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
        # No ase.db lock file: SQLite's own transactions make each write atomic,
        # the coordinator is the only writer, and the lock file that ASE
        # creates would survive a SIGKILL and block every later run forever.
        self.db = connect(self.path, use_lock_file=False)
        base = "campaign" if self.path.startswith("postgres") else self.path
        self.checkpoints = Path(f"{base}.checkpoints")
        self._upgrade()

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

    # --- structures -----------------------------------------------------------------

    def add(self, entries: Iterable[tuple]) -> list[int]:
        """Write structures in one transaction; returns their row ids.

        Each entry is ``(atoms, pairs)`` or ``(atoms, pairs, label)``: the
        key-value pairs (``name`` must be new) and, when the label came with
        the structure (an oracle relaxation step), the label itself — stored
        in the same transaction, so no structure is ever written without the
        label that came with it.
        """
        ids = []
        with self.db:
            for entry in entries:
                atoms, pairs = entry[0], dict(entry[1])
                label = entry[2] if len(entry) > 2 else None
                if pairs.get("split", "none") not in SPLITS:
                    raise ValueError(
                        f"split must be one of {SPLITS}, got {pairs['split']}"
                    )
                row, extra = _row(atoms, label)
                pairs = {"oracle_status": "pending", "split": "none", **pairs, **extra}
                ids.append(self.db.write(row, key_value_pairs=pairs))
        return ids

    def names(self, **selection) -> set[str]:
        """``name`` of every row matching ``selection``."""
        return {row.name for row in self.db.select(**selection)}

    def count(self, query: str | None = None, **selection) -> int:
        """Rows matching an ase.db ``query`` string and/or key-value pairs."""
        return self.db.count(query, **selection)

    def rows(self, **selection) -> list:
        return list(self.db.select(sort="id", **selection))

    def record_label(self, row_id: int, label: Label) -> None:
        """Write one oracle result into its row (one transaction)."""
        row, extra = _row(self.db.get(id=row_id).toatoms(), label)
        self.db.update(row_id, atoms=row if label.ok else None, **extra)

    def labelled(
        self,
        *,
        split: str | Sequence[str],
        max_loop: int | None = None,
        runs: Sequence[str] | None = None,
    ) -> list[Atoms]:
        """Structures of ``split`` with an ok label (of ``runs``, default all;
        up to ``max_loop``), as Atoms whose calculator holds the reference
        results (``info`` gets the row's key-value pairs), in name order."""
        splits = [split] if isinstance(split, str) else list(split)
        query = None if max_loop is None else f"loop<={int(max_loop)}"
        by_run = [{}] if runs is None else [{"run": run} for run in runs]
        rows = [
            row
            for s in splits
            for run in by_run
            for row in self.db.select(query, split=str(s), oracle_status="ok", **run)
        ]
        # by name, not by arrival: results arrive in completion order, and a
        # fit must see the same data in the same order on every run
        out = []
        for row in sorted(rows, key=lambda r: r.name):
            atoms = row.toatoms(add_additional_information=False)
            atoms.info.update(row.key_value_pairs)
            out.append(atoms)
        return out

    # --- metrics and checkpoints --------------------------------------------------

    def add_metrics(self, metrics: LoopMetrics) -> None:
        """The metrics row of ``metrics.loop`` of ``metrics.run`` (replacing
        an older one)."""
        with self.db:
            for row in self.db.select(
                stage=Stage.METRICS.value, loop=metrics.loop, run=metrics.run
            ):
                del self.db[row.id]
            self.db.write(
                Atoms(),
                key_value_pairs={
                    "name": metrics_name(metrics.run, metrics.loop),
                    "run": metrics.run,
                    "loop": metrics.loop,
                    "stage": Stage.METRICS.value,
                    "split": Split.NONE.value,
                    "oracle_status": "none",
                },
                data={"metrics": _plain(metrics.to_store())},
            )

    def metrics(self, run: str = MAIN_RUN) -> list[LoopMetrics]:
        """Per-loop metrics of ``run``, loop order."""
        rows = sorted(
            self.db.select(stage=Stage.METRICS.value, run=run), key=lambda r: r.loop
        )
        return [LoopMetrics.from_store(row.loop, row.data["metrics"]) for row in rows]

    def checkpoint_path(self, loop: int, run: str = MAIN_RUN) -> Path:
        """Directory of ``run``'s committee checkpoint after ``loop`` (it
        exists once that fit has finished)."""
        return self.checkpoints / run / f"loop-{loop}"


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
