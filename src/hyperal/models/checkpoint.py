"""Committee checkpoints: a directory with the backend's files and a manifest.

``manifest.json`` names the backend, its options, the elements, the member
count, the seed, the fit report, any caller's extra record (the campaign
stores the names of the structures fitted) and the SHA-256 of every file.
:func:`write_checkpoint` writes into a scratch directory and renames it into
place, so a checkpoint exists only once complete (a killed fit leaves none);
:func:`load_checkpoint` checks the hashes and dispatches through
:data:`hyperal.models.BACKENDS`, so nothing needs the campaign file to open a
checkpoint. Workers receive the path and load it once, never a pickled model.

The BPNN checkpoint holds tensors only (``torch.load(weights_only=True)``).
MACE's ``.model`` files are full pickles: load a MACE checkpoint only from a
folder you trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase.build import bulk
from pydantic import BaseModel

from hyperal.models.protocol import CommitteeModel, FitReport, predict
from hyperal.models.registry import get_backend

MANIFEST = "manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class Manifest:
    """The contents of a checkpoint's ``manifest.json``."""

    backend: str
    elements: tuple[str, ...]
    n_members: int
    seed: int
    options: dict[str, Any]
    fit: FitReport | None
    files: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "backend": self.backend,
            "elements": list(self.elements),
            "n_members": self.n_members,
            "seed": self.seed,
            "options": self.options,
            "fit": None if self.fit is None else self.fit.to_dict(),
            "files": self.files,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            backend=data["backend"],
            elements=tuple(data["elements"]),
            n_members=int(data["n_members"]),
            seed=int(data["seed"]),
            options=dict(data["options"]),
            fit=None if data.get("fit") is None else FitReport.from_dict(data["fit"]),
            files=dict(data["files"]),
            extra=dict(data.get("extra") or {}),
            format=int(data.get("format", FORMAT)),
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checkpoint(
    model: CommitteeModel,
    path: str | Path,
    *,
    options: BaseModel,
    seed: int,
    report: FitReport | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save ``model`` with its manifest as the directory ``path``, atomically
    (an existing checkpoint there is replaced); a committee that predicts
    non-finite values (:func:`poisoned`) is refused, not saved."""
    path = Path(path)
    problem = poisoned(model)
    if problem:  # a fit whose loss went non-finite is never saved
        raise ValueError(f"not saving {path.name}: {problem}")
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save(tmp)
    files = {
        p.relative_to(tmp).as_posix(): _sha256(p)
        for p in sorted(tmp.rglob("*"))
        if p.is_file()
    }
    manifest = Manifest(
        backend=model.backend,
        elements=tuple(model.elements),
        n_members=int(model.n_members),
        seed=int(seed),
        options=options.model_dump(mode="json"),
        fit=report,
        files=files,
        extra=dict(extra or {}),
    )
    (tmp / MANIFEST).write_text(json.dumps(manifest.to_dict(), indent=1))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)  # a directory rename: the checkpoint appears complete
    return path


def read_manifest(path: str | Path) -> Manifest:
    """The manifest of the checkpoint directory ``path``."""
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise ValueError(f"{path} is not a hyperal checkpoint (no {MANIFEST})")
    try:
        data = json.loads(file.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: {MANIFEST} is empty or damaged ({exc})") from None
    if data.get("format") != FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {data.get('format')}; this hyperal reads "
            f"format {FORMAT}"
        )
    return Manifest.from_dict(data)


def load_checkpoint(
    path: str | Path, *, device: str | None = None, verify: bool = True
) -> CommitteeModel:
    """The committee saved at ``path``; with ``verify`` every file's hash is
    checked against the manifest first (a changed or truncated file is an
    error, not a silently different model)."""
    path = Path(path)
    manifest = read_manifest(path)
    if verify:
        _verify_files(path, manifest)
    backend = get_backend(manifest.backend)
    model = backend.load(path, manifest.options, device=device)
    if verify:
        problem = poisoned(model)
        if problem:
            raise ValueError(f"{path}: {problem}; refit it (never used)")
    return model


def _verify_files(path: Path, manifest: Manifest) -> None:
    for name, digest in manifest.files.items():
        file = path / name
        if not file.is_file() or _sha256(file) != digest:
            raise ValueError(f"{path}: {name} is missing or changed since saved")


def damage(path: str | Path) -> str:
    """'' for a complete checkpoint directory (its manifest readable, every
    file there with the hash it was saved with), else what is wrong — a
    missing, empty or truncated file — without loading the model."""
    path = Path(path)
    if not path.is_dir():
        return f"{path}: no checkpoint there"
    try:
        _verify_files(path, read_manifest(path))
    except (ValueError, KeyError, TypeError) as exc:
        return str(exc)
    return ""


def poisoned(model: CommitteeModel) -> str:
    """'' for a committee that predicts finite energies, forces and σ_U on a
    small probe structure of its elements; else what is wrong — the check
    that catches non-finite weights or normalisation in any backend."""

    probe = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    elements = list(model.elements)
    probe.symbols = [elements[k % len(elements)] for k in range(len(probe))]
    probe.rattle(0.05, seed=0)
    try:
        (prediction,) = predict(model, [probe])
    except Exception as exc:
        return f"the committee fails on a probe structure ({type(exc).__name__}: {exc})"
    values = np.concatenate(
        [
            np.ravel(prediction.energy),
            np.ravel(prediction.forces),
            np.ravel(prediction.sigma),
        ]
    )
    if not np.all(np.isfinite(values)):
        return (
            "the committee predicts non-finite energies, forces or σ_U "
            "(non-finite weights or normalisation)"
        )
    return ""
