"""Initial data of a barrier campaign from an earlier campaign's store
(``initial.from_campaign``): the labels its committee was fitted on, and
that committee to continue from.

What is reused is exactly what the source committee of the chosen loop was
trained on (the names in its checkpoint's manifest), so the barrier
campaign's loop-0 committee starts from a fitted model *and* keeps its data.
The labels must come from the same oracle with the same settings, and a warm
start needs the same elements and committee architecture: each mismatch is
one error line naming ``initial.from_campaign``, before any oracle call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from hyperal.models.checkpoint import damage, read_manifest
from hyperal.runs.fingerprint import differences
from hyperal.runs.records import Split, validate_run
from hyperal.runs.store import Store

KEY = "initial.from_campaign"


@dataclass(frozen=True)
class Source:
    """A finished loop of an earlier campaign."""

    store: object  # hyperal.runs.store.Store
    run: str
    loop: int
    checkpoint: Path
    names: tuple[str, ...]
    warm_start: bool


def _is_url(store: str) -> bool:
    return "://" in store


def open_source(config, loop: int | None = None) -> Source:
    """The ``initial.from_campaign`` source of a barrier campaign file
    ``config`` (at ``loop`` when given, else the file's, else the source's
    last finished loop); ValueError with every problem, one line each."""

    spec = config.initial.from_campaign
    if not _is_url(spec.store) and not Path(spec.store).is_file():
        raise ValueError(f"{KEY}.store: no campaign store at {spec.store}")
    try:
        validate_run(spec.run)
    except ValueError as exc:
        raise ValueError(f"{KEY}.run: {exc}") from None
    try:
        store = Store(spec.store)
    except Exception as exc:  # not a database, a server that is down
        raise ValueError(f"{KEY}.store: {exc}") from None
    loop = spec.loop if loop is None else loop
    if loop is None:
        loop = -1
        while not damage(store.checkpoint_path(loop + 1, spec.run)):
            loop += 1
        if loop < 0:
            raise ValueError(
                f"{KEY}: run {spec.run!r} of {spec.store} has no finished loop "
                f"(no committee checkpoint in {store.checkpoint_path(0, spec.run)})"
            )
    else:
        problem = damage(store.checkpoint_path(loop, spec.run))
        if problem:
            raise ValueError(f"{KEY}.loop: loop {loop} of run {spec.run!r}: {problem}")
    checkpoint = store.checkpoint_path(loop, spec.run)
    manifest = read_manifest(checkpoint)
    problems = []
    # a campaign's or a benchmark's store, or another barrier campaign's
    settings = store.setting("campaign") or store.setting("barrier_campaign") or {}
    theirs = settings.get("oracle", {})
    ours = config.oracle.model_dump(mode="json")
    for key in ("name", "kwargs"):
        if key in theirs and theirs[key] != ours[key]:
            problems.append(
                f"{KEY}: its labels come from the oracle {theirs['name']} "
                f"{theirs.get('kwargs', {})}, this file's oracle is "
                f"{ours['name']} {ours['kwargs']}: labels of two oracles do not mix"
            )
            break
    if spec.warm_start:
        elements = list(config.system.elements)
        if list(manifest.elements) != elements:
            problems.append(
                f"{KEY}.warm_start: its committee was fitted for the elements "
                f"{', '.join(manifest.elements)}, not system.elements "
                f"{', '.join(elements)} (the same, in the same order, or "
                "warm_start: false)"
            )
        else:
            wanted = config.committee.model_dump(mode="json")
            differ = [
                k
                for k in differences(manifest.options, wanted)
                if not k.startswith("fit.") and k != "warm_start"
            ]
            if differ:
                problems.append(
                    f"{KEY}.warm_start: its committee differs in "
                    f"{', '.join('committee.' + k for k in differ)} "
                    "(the same architecture, or warm_start: false)"
                )
    if problems:
        raise ValueError("\n".join(problems))
    names = tuple(manifest.extra.get("training_names", ()))
    return Source(store, spec.run, loop, checkpoint, names, spec.warm_start)


def source_training(source: Source) -> list[Atoms]:
    """The labelled structures the source committee was fitted on, in its
    fit's order (each with its reference results as calculator)."""
    wanted = {name: k for k, name in enumerate(source.names)}
    found = [
        atoms
        for atoms in source.store.labelled(split=Split.TRAIN.value)
        if atoms.info.get("name") in wanted
    ]
    found.sort(key=lambda atoms: wanted[atoms.info["name"]])
    if len(found) != len(wanted):
        missing = sorted(set(wanted) - {a.info["name"] for a in found})
        raise ValueError(
            f"{KEY}: {len(missing)} of the {len(wanted)} structures its committee "
            f"was fitted on are not labelled in the store (first: {missing[0]})"
        )
    return found


__all__ = ["Source", "open_source", "source_training"]
