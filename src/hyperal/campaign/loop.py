"""The active-learning loop (SPEC §4): the only module that knows the whole flow.

Loop 0 (initial data): rattled known phases are relaxed by the oracle; every
ionic step is a labelled structure; a ``train_fraction`` of the trajectories
trains the first committee, the rest is the frozen *gentle* test set.

Loop k >= 1: new starts (derived metal, derived oxide, random) -> a
``difficult_fraction`` of them labelled directly into the *difficult* test set
(never trained on) -> the rest evolved by the scheme on the current committee
-> one frame selected per trajectory -> labelled -> the committee refitted on
all training data -> errors on the gentle and difficult sets per structure
type recorded.

Resume: every step first asks the store what is already there. Starts are
generated deterministically from ``(seed, loop)`` and written in one
transaction; an evolution's selected frame and an oracle label are written
the moment each arrives, under a campaign-unique ``name``; a checkpoint
exists once its fit finished. A killed run therefore repeats at most the
calls that were in flight, and never labels a structure whose label was
stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.optimize import FIRE

from hyperal import metrics
from hyperal.campaign.config import CampaignConfig
from hyperal.campaign.executors import completed, make_executor
from hyperal.campaign.store import Store
from hyperal.evolve.schemes import make_evolver
from hyperal.evolve.select import select_frame
from hyperal.models.bpnn import BPNN
from hyperal.oracle import Label, Oracle, label_structure, nonfinite
from hyperal.structures import (
    derive_structures,
    known_structures,
    random_structures,
    sample_compositions,
)
from hyperal.utils import as_rng


@dataclass(frozen=True)
class Progress:
    """One progress report: ``stage`` of ``loop``, ``done`` of ``total``
    tasks, oracle ``failures`` so far, and an optional message."""

    loop: int
    stage: str
    done: int
    total: int
    failures: int = 0
    message: str = ""


# --- tasks (module level: they travel to workers) ---------------------------------


def oracle_relaxation(
    oracle: Oracle, atoms: Atoms, steps: int, fmax: float
) -> tuple[list[tuple[Atoms, Label]], str]:
    """Relax ``atoms`` with the oracle (FIRE); every step's structure with its
    label. Returns the frames and a failure reason ('' if none)."""
    frames: list[tuple[Atoms, Label]] = []
    work = atoms.copy()
    work.calc = oracle.calculator()
    optimizer = FIRE(work, logfile=None)
    try:
        for _ in optimizer.irun(fmax=fmax, steps=steps):
            energy, forces, stress = oracle.read(work)
            failure = nonfinite(energy, forces, stress)
            if failure:
                return frames, failure
            frames.append(
                (work.copy(), Label("ok", energy, forces, stress, oracle=oracle.name))
            )
    except Exception as exc:  # the oracle failed mid-trajectory: keep what came
        return frames, f"{type(exc).__name__}: {exc}"
    return frames, ""


@dataclass(frozen=True)
class Selected:
    """Outcome of one evolution: the selected frame (or None) and why."""

    atoms: Atoms | None
    sigma: float
    status: str
    reason: str


def evolve_and_select(
    model: BPNN,
    scheme: str,
    params: dict,
    steps: int,
    selection: dict,
    atoms: Atoms,
    seed: int,
) -> Selected:
    """Evolve ``atoms`` with ``scheme`` on the committee and select a frame."""
    evolver = make_evolver(scheme, model.as_calculator(), params, rng=seed)
    result = evolver.run(atoms, steps=steps)
    chosen = select_frame(result, **selection)
    if not chosen.selected:
        return Selected(None, math.nan, result.status, chosen.reason)
    return Selected(
        chosen.frame.to_atoms(), chosen.frame.sigma, result.status, chosen.reason
    )


def _seed(*keys: int) -> int:
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


# --- the campaign ---------------------------------------------------------------


class Campaign:
    """Runs (or resumes) a campaign described by a :class:`CampaignConfig`.

    Parameters
    ----------
    config : CampaignConfig
    progress : callable, optional
        Receives a :class:`Progress` after every finished task.
    """

    def __init__(
        self,
        config: CampaignConfig,
        *,
        progress: Callable[[Progress], None] | None = None,
    ):
        self.config = config
        self.store = Store(config.store)
        self.oracle = Oracle(
            config.oracle.name,
            config.oracle.kwargs,
            timeout_s=config.oracle.timeout_s,
            retries=config.oracle.retries,
            stress=config.oracle.stress,
        )
        self.progress = progress or (lambda report: None)

    # --- driver -----------------------------------------------------------------

    def run(self) -> list[dict[str, Any]]:
        """Run every loop not yet finished; returns the per-loop metrics."""
        cfg = self.config
        done = {m["loop"] for m in self.store.metrics()}
        with make_executor(
            cfg.executor.kind,
            workers=cfg.executor.workers,
            address=cfg.executor.address,
        ) as executor:
            self.executor = executor
            if 0 not in done:
                self._initial()
            for loop in range(1, cfg.loops + 1):
                if loop not in done:
                    self._loop(loop)
        return self.store.metrics()

    def _rng(self, loop: int, stream: int) -> np.random.Generator:
        return as_rng(np.random.SeedSequence([self.config.seed, loop, stream]))

    def _failures(self) -> int:
        return self.store.count(oracle_status="failed")

    # --- loop 0 -----------------------------------------------------------------

    def _initial(self) -> None:
        cfg, store = self.config, self.store
        rng = self._rng(0, 0)
        starts = []
        for i in range(cfg.initial.structures):
            phase = cfg.system.metal_phases[i % len(cfg.system.metal_phases)]
            (atoms,) = self._phase(phase, rng)
            atoms.rattle(cfg.initial.rattle_A, seed=int(rng.integers(2**31)))
            starts.append(atoms)
        n_train = max(1, round(cfg.initial.train_fraction * len(starts)))
        splits = ["train"] * n_train + ["gentle"] * (len(starts) - n_train)
        splits = list(rng.permutation(splits))
        have = {name.rsplit("-", 1)[0] for name in store.names(stage="initial")}
        todo = [i for i in range(len(starts)) if f"init-{i}" not in have]
        calls = (
            (
                i,
                oracle_relaxation,
                (
                    self.oracle,
                    starts[i],
                    cfg.initial.relax_steps,
                    cfg.initial.fmax_eV_A,
                ),
            )
            for i in todo
        )
        for n, (i, (frames, failure)) in enumerate(
            completed(self.executor, calls), start=1
        ):
            entries = []
            for k, (atoms, label) in enumerate(frames):
                entries.append(
                    (
                        atoms,
                        {
                            "name": f"init-{i}-{k}",
                            "loop": 0,
                            "stage": "initial",
                            "source": "known",
                            "split": str(splits[i]),
                        },
                        label,
                    )
                )
            if failure:
                entries.append(
                    (
                        starts[i],
                        {
                            "name": f"init-{i}-failed",
                            "loop": 0,
                            "stage": "initial",
                            "source": "known",
                            "split": "none",
                        },
                        Label("failed", reason=failure, oracle=self.oracle.name),
                    )
                )
            store.add(entries)  # a trajectory's labels arrive together: one write
            self.progress(Progress(0, "initial data", n, len(todo), self._failures()))
        model = self._fit(0)
        self._evaluate(0, model)

    def _phase(self, phase, rng) -> list[Atoms]:
        return known_structures(
            phase.prototype,
            phase.species,
            repeat=phase.repeat,
            min_atoms=phase.min_atoms,
            lattice=phase.lattice,
            rng=rng,
        )

    # --- loop k -----------------------------------------------------------------

    def _loop(self, loop: int) -> None:
        store = self.store
        model = BPNN.load(store.checkpoint(loop - 1))
        if not store.count(stage="start", loop=loop):
            self._write_starts(loop)
        self._label_pending(loop, stage="start", split="difficult")
        self._evolve(loop, model)
        self._label_pending(loop, stage="selected", split="train")
        model = self._fit(loop)
        self._evaluate(loop, model)

    def _write_starts(self, loop: int) -> None:
        cfg = self.config
        rng = self._rng(loop, 0)
        starts: list[tuple[Atoms, str]] = []
        if cfg.counts.derived_metal:
            parents = [a for p in cfg.system.metal_phases for a in self._phase(p, rng)]
            derived = derive_structures(
                parents,
                cfg.counts.derived_metal,
                kind="metal",
                species={"metal": cfg.system.elements},
                rng=rng,
                **cfg.system.derive_metal,
            )
            starts += [(a, "derived_metal") for a in derived]
        if cfg.counts.derived_oxide and cfg.system.oxide_phases:
            parents = [a for p in cfg.system.oxide_phases for a in self._phase(p, rng)]
            derived = derive_structures(
                parents,
                cfg.counts.derived_oxide,
                kind="oxide",
                rng=rng,
                **cfg.system.derive_oxide,
            )
            starts += [(a, "derived_oxide") for a in derived]
        if cfg.counts.random:
            random_cfg = cfg.system.random
            compositions = sample_compositions(
                [e for e in cfg.system.elements if e not in random_cfg.interstitials],
                cfg.counts.random,
                interstitials=random_cfg.interstitials,
                rng=rng,
            )
            for fractions in compositions:
                starts += [
                    (a, "random")
                    for a in random_structures(
                        1,
                        fractions,
                        cutoff_A=random_cfg.cutoff_A,
                        criterion=random_cfg.criterion,
                        density_g_cm3=random_cfg.density_g_cm3,
                        rng=rng,
                    )
                ]
        n_difficult = round(cfg.difficult_fraction * len(starts))
        difficult = set(
            rng.choice(len(starts), size=n_difficult, replace=False).tolist()
        )
        entries = []
        for j, (atoms, source) in enumerate(starts):
            atoms.info = {}
            atoms.arrays.pop("displacement", None)
            entries.append(
                (
                    atoms,
                    {
                        "name": f"L{loop}-start-{j}",
                        "loop": loop,
                        "stage": "start",
                        "source": source,
                        "split": "difficult" if j in difficult else "none",
                        "oracle_status": "pending" if j in difficult else "none",
                    },
                )
            )
        self.store.add(entries)

    def _label_pending(self, loop: int, *, stage: str, split: str) -> None:
        store = self.store
        rows = store.rows(loop=loop, stage=stage, split=split, oracle_status="pending")
        calls = (
            (row.id, label_structure, (self.oracle, row.toatoms())) for row in rows
        )
        for n, (row_id, label) in enumerate(completed(self.executor, calls), start=1):
            store.record_label(row_id, label)
            self.progress(
                Progress(loop, f"labelling {split}", n, len(rows), self._failures())
            )

    def _evolve(self, loop: int, model: BPNN) -> None:
        cfg, store = self.config, self.store
        done = store.names(loop=loop, stage="selected")
        starts = [
            row
            for row in store.rows(loop=loop, stage="start", split="none")
            if row.name.replace("start", "sel") not in done
        ]
        selection = cfg.selection.model_dump()
        by_name = {row.name: row for row in starts}
        calls = (
            (
                row.name,
                evolve_and_select,
                (
                    model,
                    cfg.scheme.name,
                    dict(cfg.scheme.params),
                    cfg.scheme.steps,
                    selection,
                    row.toatoms(),
                    _seed(cfg.seed, loop, int(row.name.rsplit("-", 1)[1])),
                ),
            )
            for row in starts
        )
        for n, (name, outcome) in enumerate(completed(self.executor, calls), start=1):
            row = by_name[name]
            pairs = {
                "name": row.name.replace("start", "sel"),
                "loop": loop,
                "stage": "selected",
                "source": row.source,
                "scheme": cfg.scheme.name,
                "evolution": outcome.status,
            }
            if outcome.atoms is None:
                store.add(
                    [
                        (
                            row.toatoms(),
                            {
                                **pairs,
                                "split": "none",
                                "oracle_status": "skipped",
                                "oracle_reason": outcome.reason[:500],
                            },
                        )
                    ]
                )
            else:
                atoms = outcome.atoms
                atoms.info = {}
                store.add(
                    [
                        (
                            atoms,
                            {
                                **pairs,
                                "split": "train",
                                "uncertainty": float(outcome.sigma),
                            },
                        )
                    ]
                )
            self.progress(
                Progress(
                    loop,
                    f"evolving ({cfg.scheme.name})",
                    n,
                    len(starts),
                    self._failures(),
                )
            )

    # --- fit and evaluate ---------------------------------------------------------

    def _fit(self, loop: int) -> BPNN:
        cfg, store = self.config, self.store
        path = store.checkpoint(loop)
        if path.exists():
            return BPNN.load(path)
        train = store.labelled(split="train", max_loop=loop)
        self.progress(
            Progress(
                loop, f"fitting on {len(train)} structures", 0, 1, self._failures()
            )
        )
        c = cfg.committee
        model = BPNN(
            cfg.system.elements,
            n_members=c.n_members,
            hidden=c.hidden,
            cutoff=c.cutoff_A,
            seed=cfg.seed + loop,
        )
        model.fit(train, epochs=c.epochs, seed=cfg.seed + loop, progress=False, **c.fit)
        tmp = path.with_suffix(".tmp")
        model.save(tmp)
        tmp.replace(path)  # atomic: a checkpoint exists only once complete
        self.progress(Progress(loop, "fitted", 1, 1, self._failures()))
        return model

    def _evaluate(self, loop: int, model: BPNN) -> None:
        store = self.store
        report: dict[str, Any] = {
            "oracle_calls": store.count(oracle_status="ok")
            + store.count(oracle_status="failed"),
            "oracle_failures": self._failures(),
            "n_train": store.count(f"loop<={loop}", split="train", oracle_status="ok"),
        }
        rows = store.rows(loop=loop, stage="selected")
        report["selected_sigma"] = [
            row.uncertainty for row in rows if row.get("uncertainty") is not None
        ]
        report["n_selected"] = len(report["selected_sigma"])
        report["n_skipped"] = sum(row.oracle_status == "skipped" for row in rows)
        for split in ("gentle", "difficult"):
            images = store.labelled(split=split, max_loop=loop)
            report[split] = evaluate(model, images)
        store.add_metrics(loop, report)
        self.progress(Progress(loop, "evaluated", 1, 1, self._failures()))


def evaluate(model: BPNN, images: list[Atoms]) -> dict[str, Any]:
    """Committee-mean errors on labelled ``images``: overall and per ``source``
    (energy meV/atom, force components meV/Å, force angle degrees), with the
    raw pairs for parity plots."""
    if not images:
        return {}
    calc = model.as_calculator()
    rows = []
    for atoms in images:
        ref_e = atoms.calc.results["energy"]
        ref_f = atoms.calc.results["forces"]
        probe = atoms.copy()
        probe.calc = calc
        rows.append(
            (
                atoms.info.get("source", "unknown"),
                len(atoms),
                ref_e,
                probe.get_potential_energy(),
                ref_f,
                probe.get_forces(),
                float(calc.results["energy_uncertainty"]),
            )
        )

    def summary(subset):
        n = np.array([r[1] for r in subset])
        e_ref = np.array([r[2] for r in subset])
        e_pred = np.array([r[3] for r in subset])
        f_ref = [r[4] for r in subset]
        f_pred = [r[5] for r in subset]
        e = metrics.energy_errors(e_pred, e_ref, n).scaled(1000, "meV/atom")
        f = metrics.force_errors(f_pred, f_ref).scaled(1000, "meV/Å")
        a = metrics.force_angle_errors(f_pred, f_ref)
        return {
            "count": len(subset),
            "energy_rmse_meV_atom": e.rmse,
            "energy_mae_meV_atom": e.mae,
            "force_rmse_meV_A": f.rmse,
            "force_mae_meV_A": f.mae,
            "angle_mae_deg": a.mae,
        }

    out: dict[str, Any] = {"all": summary(rows)}
    for source in sorted({r[0] for r in rows}):
        out[source] = summary([r for r in rows if r[0] == source])
    out["parity"] = {
        "energy_ref": [r[2] / r[1] for r in rows],
        "energy_pred": [r[3] / r[1] for r in rows],
        "force_ref": np.concatenate([r[4].ravel() for r in rows])[:3000].tolist(),
        "force_pred": np.concatenate([r[5].ravel() for r in rows])[:3000].tolist(),
        "angles": np.concatenate([metrics.force_angles(r[5], r[4]) for r in rows])[
            :3000
        ].tolist(),
        "sigma": [r[6] for r in rows],
    }
    return out
