"""Independent, stratified robustness test sets from recipes a person can read.

A benchmark that ranks exploration schemes on structures drawn from the pool
the schemes evolve, or made by the dynamics one scheme uses, favours that
scheme. A robustness set is built apart from every campaign: each *stratum*
is one kind of structure a robust potential must get right — MD snapshots at
several temperatures up to near melting, vacancies and divacancies, surfaces,
hydrostatic and shear strain, random structures, derived oxides, rattled
crystals — drawn with its own random stream (the recipe's seed and the
stratum's name, never a campaign's) and labelled by the oracle. Each
structure carries ``info['source']`` = its stratum, so every error table of
hyperal breaks down per stratum.

The set is written to an extxyz file (``REF_energy``, ``REF_forces``) one
structure at a time as its label arrives; a failed label, or one beyond the
recipe's physical limits, is recorded beside it (``<file>.left_out.jsonl``)
with its reason. A rerun of the same recipe resumes: it rebuilds the same
candidates and labels only the ones never labelled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import read, write

from hyperal.evolve.select import beyond_limits
from hyperal.recipe import TestSetRecipe, parse_recipe
from hyperal.runs.store import structure_key
from hyperal.strata import candidates, recipe_oracle

__all__ = ["StratumReport", "TestSetRecipe", "build_test_set", "parse_recipe"]


@dataclass
class StratumReport:
    """What one stratum gave: labelled, failed (with reasons), beyond the
    physical limits, and its reference forces."""

    name: str
    kind: str
    requested: int
    written: int = 0
    failed: int = 0
    beyond_limits: int = 0
    reasons: list[str] = field(default_factory=list)
    force_rms_eV_A: float = math.nan
    force_max_eV_A: float = math.nan

    def count(self, status: str, reason: str) -> None:
        """One candidate left out: ``failed`` or ``beyond_limits``."""
        if status == "failed":
            self.failed += 1
        else:
            self.beyond_limits += 1
        self.reasons.append(reason)

    def row(self) -> list[Any]:
        return [
            self.name,
            self.kind,
            self.requested,
            self.written,
            self.failed,
            self.beyond_limits,
            f"{self.force_rms_eV_A:.2f}",
            f"{self.force_max_eV_A:.2f}",
        ]


def _read_done(path: Path, fingerprint: str) -> tuple[list[Atoms], dict]:
    """Structures already written and candidates already left out (by
    (stratum, index)); another recipe's file is refused."""

    done: list[Atoms] = []
    if path.exists() and path.stat().st_size:
        done = read(path, index=":")
        other = {a.info.get("recipe") for a in done} - {fingerprint}
        if other:
            raise ValueError(
                f"{path}: written by another recipe (fingerprint "
                f"{', '.join(map(str, sorted(other)))}, this one {fingerprint}); "
                "write to a new file"
            )
    left_out = {}
    sidecar = left_out_path(path)
    if sidecar.exists():
        for line in sidecar.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("recipe") == fingerprint:
                left_out[entry["stratum"], entry["index"]] = entry
    return done, left_out


def left_out_path(path: Path) -> Path:
    """Where the candidates left out of the set ``path`` are recorded (one
    JSON line each: stratum, index, status ``failed`` or ``beyond_limits``,
    reason), so that a rerun does not pay for them again."""
    return path.with_name(path.name + ".left_out.jsonl")


def build_test_set(
    recipe: TestSetRecipe,
    path: str | Path,
    *,
    driver=None,
    progress=lambda stratum, done, total: None,
) -> list[StratumReport]:
    """Label every stratum's candidates with the recipe's oracle and append
    each labelled structure to the extxyz file ``path`` as it arrives;
    structures beyond ``recipe.limits`` are counted, not written. Resumes a
    file of the same recipe: written and left-out candidates are not
    labelled again."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fingerprint = recipe.fingerprint()
    done, left_out = _read_done(path, fingerprint)
    written = {(a.info["stratum"], int(a.info["index"])): a for a in done}
    oracle = recipe_oracle(recipe, path)
    sidecar = left_out_path(path)
    reports = []
    for stratum in recipe.strata:
        name = stratum.label
        report = StratumReport(name, stratum.kind, stratum.count)
        forces = []
        # an MD stratum's dynamics run in call folders of their own
        with oracle.driver(f"md-{name}") as in_folders:
            structures = candidates(recipe, stratum, driver or in_folders)
        for index, atoms in enumerate(structures):
            key = (name, index)
            if key in left_out:  # paid for in an earlier run: not again
                report.count(left_out[key]["status"], left_out[key]["reason"])
            elif key in written:
                report.written += 1
                forces.append(written[key].arrays["REF_forces"])
            else:
                label = oracle.label(atoms)
                why = (
                    beyond_limits(
                        atoms,
                        label.forces,
                        max_force_eV_A=recipe.limits.max_force_eV_A,
                        min_distance_A=recipe.limits.min_distance_A,
                    )
                    if label.ok
                    else ""
                )
                if not label.ok or why:
                    status = "failed" if not label.ok else "beyond_limits"
                    reason = label.reason if not label.ok else why
                    report.count(status, reason)
                    entry = {
                        "recipe": fingerprint,
                        "stratum": name,
                        "index": index,
                        "status": status,
                        "reason": reason,
                    }
                    with sidecar.open("a") as handle:
                        handle.write(json.dumps(entry) + "\n")
                else:
                    atoms.info.update(
                        source=name,
                        stratum=name,
                        kind=stratum.kind,
                        index=index,
                        recipe=fingerprint,
                        structure_key=structure_key(atoms),
                        REF_energy=label.energy,
                    )
                    atoms.arrays["REF_forces"] = np.asarray(label.forces)
                    if label.stress is not None:
                        atoms.info["REF_stress"] = np.asarray(label.stress)
                    write(path, atoms, format="extxyz", append=True)
                    report.written += 1
                    forces.append(label.forces)
            progress(name, index + 1, len(structures))
        if forces:
            stacked = np.concatenate(forces)
            # per-atom norm, sqrt(mean_i |F_i|²): √3 × the component RMS
            report.force_rms_eV_A = float(np.sqrt(np.mean(np.sum(stacked**2, axis=1))))
            report.force_max_eV_A = float(np.linalg.norm(stacked, axis=1).max())
        reports.append(report)
    return reports
