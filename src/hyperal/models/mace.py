"""A committee of MACE models (Batatia et al., NeurIPS 35 (2022)) trained from
scratch, behind the model-backend protocol (``backend: mace``).

Needs the optional extra ``hyperal[mace]`` (mace-torch 0.3.x). Every member
is trained by ``python -m mace.cli.run_train`` in a subprocess, with its own
seed, on the extxyz of :func:`hyperal.labels.with_ref_keys` (``REF_energy``,
``REF_forces``, ``REF_stress`` are mace's default keys); a subprocess also
keeps mace's global side effects (default dtype, logging handlers,
environment variables) out of the caller. A warm-started fit passes the
previous member as ``--foundation_model``. Evaluation is one
``mace.calculators.MACECalculator`` over all members (one neighbour list), whose
``energy_comm`` / ``forces_comm`` / ``stress_comm`` become the committee keys;
atomic features are its invariant descriptors.

MACE's ``.model`` files are whole pickled modules: loading one executes code
stored in it, so load a MACE checkpoint only from a folder you trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols
from ase.io import write
from ase.stress import full_3x3_to_voigt_6_stress

from hyperal import metrics
from hyperal.committee.results import member_results
from hyperal.committee.statistics import UNCERTAINTY_KEYS
from hyperal.labels import reference, with_ref_keys
from hyperal.models.options import MACEFitOptions, MACEOptions
from hyperal.models.protocol import CommitteeModel, FitReport, predict


@contextlib.contextmanager
def _isolated():
    """Restore torch's default dtype and the environment after mace code ran
    (``import mace`` sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD for the process)."""
    # lazy: `import hyperal` does not load torch
    import torch

    dtype, environ = torch.get_default_dtype(), dict(os.environ)
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
        for key in set(os.environ) - set(environ):
            del os.environ[key]
        os.environ.update(environ)


def _epochs(options: MACEFitOptions, *, warm: bool) -> int:
    """Epochs of a cold fit, or of a warm one (default a third)."""
    if not warm:
        return options.max_num_epochs
    return options.warm_epochs or max(1, options.max_num_epochs // 3)


def _member_file(k: int) -> str:
    return f"member-{k}.model"


class MACECommitteeCalculator(Calculator):
    """ASE calculator over M MACE models with the committee keys of
    :mod:`hyperal.committee.results` (stress for periodic cells)."""

    implemented_properties = [
        "energy",
        "free_energy",
        "forces",
        "stress",
        *UNCERTAINTY_KEYS,
        "member_stresses",
        "energy_uncertainty_stress",
    ]

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner  # a mace.calculators.MACECalculator over all members
        self.known = {chemical_symbols[int(z)] for z in inner.z_table.zs}

    @classmethod
    def from_paths(
        cls, paths: Sequence[Path], *, device: str, dtype: str
    ) -> MACECommitteeCalculator:
        """Load the members' ``.model`` files (full pickles: trusted files
        only) into one MACECalculator."""
        # lazy: `import hyperal` does not load torch
        import torch

        with _isolated():
            # optional dependency (hyperal[mace])
            from mace.calculators import MACECalculator

            models = [
                torch.load(p, map_location=device, weights_only=False) for p in paths
            ]
            return cls(
                MACECalculator(models=models, device=device, default_dtype=dtype)
            )

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        unknown = sorted(set(self.atoms.get_chemical_symbols()) - self.known)
        if unknown:
            raise ValueError(
                f"the MACE committee was not fitted for {', '.join(unknown)} "
                f"(it knows {', '.join(sorted(self.known))})"
            )
        with _isolated():
            self.inner.calculate(self.atoms.copy())
        r = self.inner.results
        energies = np.atleast_1d(r["energy_comm"]).astype(float)
        forces = np.asarray(r["forces_comm"], dtype=float)
        stresses = None
        periodic = self.atoms.cell.rank == 3 and self.atoms.pbc.all()
        if periodic and "stress_comm" in r:
            stresses = np.asarray(r["stress_comm"], dtype=float)
            if stresses.shape[-2:] == (3, 3):
                stresses = np.stack([full_3x3_to_voigt_6_stress(s) for s in stresses])
        self.results = member_results(energies, forces, stresses)

    def descriptors(self, atoms: Atoms) -> np.ndarray:
        """Invariant node features of every member, (M, N, F)."""
        with _isolated():
            out = self.inner.get_descriptors(atoms.copy(), invariants_only=True)
        return np.stack([np.asarray(d, dtype=float) for d in out])


class MACECommittee:
    """:class:`~hyperal.models.protocol.CommitteeModel` of M MACE models."""

    backend: ClassVar[str] = "mace"

    def __init__(
        self,
        elements: Sequence[str],
        options: MACEOptions,
        *,
        seed: int = 0,
        paths: Sequence[Path] | None = None,
        device: str | None = None,
    ):
        self._elements = tuple(elements)
        self.options = options
        self.seed = int(seed)
        self.paths = [Path(p) for p in paths] if paths else None
        self.device = device or options.device
        self._inner = None  # the loaded MACECalculator, shared by calculators
        self._scratch: tempfile.TemporaryDirectory | None = None

    @property
    def elements(self) -> tuple[str, ...]:
        return self._elements

    @property
    def n_members(self) -> int:
        return self.options.n_members

    @classmethod
    def build(
        cls, elements: Sequence[str], options: MACEOptions, *, seed: int = 0
    ) -> MACECommittee:
        return cls(elements, options, seed=seed)

    @classmethod
    def load(
        cls, directory: Path, options: MACEOptions, *, device: str | None = None
    ) -> MACECommittee:
        meta = json.loads((Path(directory) / "mace.json").read_text())
        paths = [Path(directory) / _member_file(k) for k in range(options.n_members)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise ValueError(f"{directory}: missing {', '.join(missing)}")
        return cls(
            meta["elements"], options, seed=meta["seed"], paths=paths, device=device
        )

    def save(self, directory: Path) -> None:
        if self.paths is None:
            raise ValueError("a MACE committee is saved after it has been fitted")
        for k, path in enumerate(self.paths):
            shutil.copyfile(path, Path(directory) / _member_file(k))
        (Path(directory) / "mace.json").write_text(
            json.dumps({"elements": list(self.elements), "seed": self.seed})
        )

    # --- fitting ---------------------------------------------------------------------

    def _arguments(
        self, k: int, options: MACEFitOptions, work: Path, init: Path | None
    ) -> list[str]:
        o = self.options
        epochs = _epochs(options, warm=init is not None)
        args = {
            "name": f"member-{k}",
            "seed": self.seed * 1000 + k,
            "train_file": str(work / "train.extxyz"),
            "valid_file": str(work / "valid.extxyz"),
            "model": "MACE",
            "r_max": o.r_max_A,
            "num_channels": o.num_channels,
            "max_L": o.max_L,
            "correlation": o.correlation,
            "num_interactions": o.num_interactions,
            "num_radial_basis": o.num_radial_basis,
            "E0s": options.E0s,
            "energy_weight": options.energy_weight,
            "forces_weight": options.forces_weight,
            "max_num_epochs": epochs,
            "batch_size": options.batch_size,
            "valid_batch_size": options.batch_size,
            "lr": options.lr,
            "device": self.device,
            "default_dtype": o.default_dtype,
            "work_dir": str(work / f"run-{k}"),
            "model_dir": str(work / "models"),
            "save_cpu": True,
            **options.extra_args,
        }
        if init is not None:
            args["foundation_model"] = str(init)
        out = []
        for key, value in args.items():
            if value is True:
                out.append(f"--{key}")
            elif value is not False:
                out.append(f"--{key}={value}")
        return out

    def fit(
        self,
        frames: Sequence[Atoms],
        options: MACEFitOptions,
        *,
        init: CommitteeModel | None = None,
        seed: int = 0,
    ) -> FitReport:
        tic = time.perf_counter()
        if init is not None and (
            not isinstance(init, MACECommittee) or init.paths is None
        ):
            raise TypeError("a MACE committee warm-starts from a fitted MACE committee")
        if init is not None and init.n_members != self.n_members:
            raise ValueError("warm start: the previous committee has another size")
        labelled = [with_ref_keys(a, k) for k, a in enumerate(frames)]
        if len(labelled) < 2:
            raise ValueError("a MACE fit needs at least 2 labelled structures")
        unknown = sorted({s for a in labelled for s in a.symbols} - set(self.elements))
        if unknown:
            raise ValueError(f"frames hold elements the model lacks: {unknown}")
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(labelled))
        n_valid = max(1, round(options.valid_fraction * len(labelled)))
        valid = [labelled[i] for i in order[:n_valid]]
        train = [labelled[i] for i in order[n_valid:]]
        self.seed = int(seed)
        self._scratch = tempfile.TemporaryDirectory(prefix="hyperal-mace-")
        work = Path(self._scratch.name)
        write(work / "train.extxyz", train, format="extxyz")
        write(work / "valid.extxyz", valid, format="extxyz")
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        for k in range(self.n_members):
            start = init.paths[k] if init is not None else None
            command = [sys.executable, "-m", "mace.cli.run_train"]
            command += self._arguments(k, options, work, start)
            done = subprocess.run(
                command, cwd=work, env=env, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"mace run_train failed for member {k}:\n"
                    + "\n".join(done.stderr.strip().splitlines()[-15:])
                )
        self.paths = [work / "models" / _member_file(k) for k in range(self.n_members)]
        self._inner = None
        refs = [reference(atoms) for atoms in valid]
        preds = predict(self, valid)
        e_err = metrics.energy_errors(
            [p.energy for p in preds], [r.energy for r in refs], [len(a) for a in valid]
        )
        f_err = metrics.force_errors(
            [p.forces for p in preds], [r.forces for r in refs]
        )
        return FitReport(
            backend=self.backend,
            n_train=len(train),
            n_validation=len(valid),
            epochs=_epochs(options, warm=init is not None),
            wall_s=time.perf_counter() - tic,
            validation_energy_rmse_meV_atom=1e3 * e_err.rmse,
            validation_force_rmse_meV_A=1e3 * f_err.rmse,
            warm_started=init is not None,
        )

    # --- evaluation ---------------------------------------------------------------

    def calculator(self) -> MACECommitteeCalculator:
        if self.paths is None:
            raise ValueError("the MACE committee has not been fitted yet")
        if self._inner is None:
            self._inner = MACECommitteeCalculator.from_paths(
                self.paths, device=self.device, dtype=self.options.default_dtype
            ).inner
        return MACECommitteeCalculator(self._inner)

    def atomic_features(self, atoms: Atoms) -> np.ndarray:
        return self.calculator().descriptors(atoms)
