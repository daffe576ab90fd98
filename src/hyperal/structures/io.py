"""Write and read structure sets: extxyz (any ``ase.io`` format) or an ase.db.

In an ase.db, the scalar ``info`` entries (text, numbers, booleans) become
key-value pairs, so rows can be selected by them (``source=derived``,
``prototype=bcc``); everything else (tuples, arrays, keys that ase.db reserves
such as ``energy`` or element symbols) goes to the row's ``data`` and comes
back into ``info`` on reading. Per-atom arrays beyond ASE's standard ones
(e.g. ``displacement``) go to ``data`` too.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.db import connect
from ase.db.core import reserved_keys
from ase.io import read, write

from hyperal.labels import reference

_WORD = re.compile("[_a-zA-Z][_0-9a-zA-Z]*$")
_STANDARD_ARRAYS = {
    "numbers",
    "positions",
    "momenta",
    "masses",
    "initial_magmoms",
    "initial_charges",
    "tags",
}


def is_db(path: str | Path) -> bool:
    """Whether ``path`` names an ase.db (``.db`` or ``.json`` file, or a
    PostgreSQL URL)."""
    text = str(path)
    return text.startswith(("postgresql://", "postgres://")) or Path(text).suffix in (
        ".db",
        ".json",
    )


def _db_key_ok(key: str, value) -> bool:
    scalar = isinstance(value, (str, bool, int, float, np.integer, np.floating))
    return scalar and bool(_WORD.match(key)) and key not in reserved_keys


def write_structures(
    structures: Sequence[Atoms], path: str | Path, *, append: bool = False
) -> int:
    """Write ``structures`` to ``path`` (ase.db by suffix, else ``ase.io.write``
    with the format guessed from the suffix, extxyz for ``.xyz``); returns the
    number written. An existing file is replaced unless ``append``."""
    structures = list(structures)
    path_text = str(path)
    if is_db(path_text):
        if not append and not path_text.startswith("postgres") and Path(path).exists():
            Path(path).unlink()
        db = connect(path_text, use_lock_file=False)  # a stale lock blocks forever
        with db, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "key is also a chemical formula"
            for atoms in structures:
                pairs, data = {}, {}
                for key, value in atoms.info.items():
                    if _db_key_ok(key, value):
                        pairs[key] = (
                            value.item() if isinstance(value, np.generic) else value
                        )
                    else:
                        data.setdefault("info", {})[key] = value
                for key, value in atoms.arrays.items():
                    if key not in _STANDARD_ARRAYS:
                        # ase.db cannot decode numpy text arrays: store a list
                        text = value.dtype.kind in "UO"
                        data.setdefault("arrays", {})[key] = (
                            value.tolist() if text else value
                        )
                row = atoms.copy()
                for key in list(row.arrays):
                    if key not in _STANDARD_ARRAYS:
                        del row.arrays[key]
                row.info = {}
                db.write(row, key_value_pairs=pairs, data=data)
        return len(structures)

    fmt = "extxyz" if Path(path_text).suffix in (".xyz", ".extxyz") else None
    write(path_text, structures, format=fmt, append=append)
    return len(structures)


def read_structures(path: str | Path) -> list[Atoms]:
    """Read every structure of ``path`` (as :func:`write_structures` wrote it)."""
    path_text = str(path)
    if is_db(path_text):
        out = []
        for row in connect(path_text, use_lock_file=False).select():
            atoms = row.toatoms()
            atoms.info.update(row.key_value_pairs)
            data = row.data or {}
            atoms.info.update(data.get("info", {}))
            for key, value in data.get("arrays", {}).items():
                atoms.arrays[key] = np.asarray(value)
            out.append(atoms)
        return out
    fmt = "extxyz" if Path(path_text).suffix in (".xyz", ".extxyz") else None
    return read_images(path_text, format=fmt)


def read_images(path: str | Path, format: str | None = None) -> list[Atoms]:
    """Every structure of a file ase.io reads; a file it cannot read (missing,
    binary garbage, an unknown format) is a ValueError naming the file."""

    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file")
    try:
        return list(read(path, index=":", format=format))
    except Exception as exc:  # ase.io raises anything from its parsers
        text = " ".join(str(exc).split())[:200]
        raise ValueError(
            f"{path}: cannot be read as structures ({type(exc).__name__}: {text})"
        ) from None


def read_labelled(path: str, source: str = "test_file") -> list:
    """The user's test structures with their reference labels (``REF_``
    keys or a calculator's results); ``info['source']`` names the structure
    type (default ``source``)."""
    images = read_images(path)
    for k, atoms in enumerate(images):
        try:
            reference(atoms, k)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        atoms.info.setdefault("source", source)
        atoms.info.setdefault("name", f"test-{k}")
    return images
