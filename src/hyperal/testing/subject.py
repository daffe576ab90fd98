"""What the backend conformance check exercises: a committee fitted on
EMT-labelled Cu–Ni cells (:func:`emt_cells`), with what its checks share
(:class:`BackendUnderTest`, :func:`backend_under_test`); the checks
themselves are in :mod:`hyperal.testing.backends`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from hyperal.models.checkpoint import load_checkpoint, write_checkpoint
from hyperal.models.protocol import Backend, CommitteeModel, predict
from hyperal.models.registry import get_backend


def emt_cells(n: int = 12, *, seed: int = 0, rattle_A: float = 0.12) -> list[Atoms]:
    """``n`` 8-atom fcc Cu–Ni cells, rattled, labelled by EMT (a
    SinglePointCalculator with energy, forces and stress)."""
    rng = np.random.default_rng(seed)
    cells = []
    for _ in range(n):
        atoms = bulk("Cu", "fcc", a=3.6 * rng.uniform(0.98, 1.03), cubic=True)
        atoms = atoms.repeat((2, 1, 1))
        atoms.numbers[rng.random(len(atoms)) < 0.5] = 28
        atoms.rattle(rattle_A, seed=int(rng.integers(2**31)))
        atoms.calc = EMT()
        results = {
            "energy": atoms.get_potential_energy(),
            "forces": atoms.get_forces(),
            "stress": atoms.get_stress(),
        }
        atoms.calc = SinglePointCalculator(atoms, **results)
        cells.append(atoms)
    return cells


def predictions(model: CommitteeModel, frames: list[Atoms]) -> np.ndarray:
    """Energies and force components of every frame, one flat array."""
    return np.concatenate(
        [np.r_[p.energy, p.forces.ravel()] for p in predict(model, frames)]
    )


class BackendUnderTest:
    """A backend fitted on EMT Cu–Ni cells, and what its checks share: the
    committee, its fit report, its predictions of the training frames, one
    frame with its calculator's results, a checkpoint folder ``root``."""

    def __init__(
        self,
        backend: Backend,
        options: Any,
        frames: list[Atoms],
        root: Path,
        *,
        warm_options: dict[str, Any] | None = None,
        gradient_rtol: float = 1e-4,
        h: float | None = None,
    ):
        self.backend = backend
        self.options = options
        self.frames = frames
        self.root = root
        self.warm_options = warm_options
        self.gradient_rtol = gradient_rtol
        #: machine epsilon of the committee's arithmetic: every tolerance
        #: below that is not a modelling one follows it
        self.eps = float(np.finfo(backend.dtype(options)).eps)
        #: finite-difference step: the cube root of eps balances a central
        #: difference's O(h²) truncation against its eps·|E|/h rounding
        #: (4.9e-3 Å in float32), never below 1e-4 Å
        self.h = h if h is not None else max(1e-4, self.eps ** (1 / 3))
        self.model = backend.build(("Cu", "Ni"), options, seed=1)
        self.report = self.model.fit(frames, options.fit, seed=1)
        self.pred = predictions(self.model, frames)
        atoms = frames[0].copy()
        atoms.calc = None
        #: the first frame as given, and the one a calculator is attached to
        self.before = atoms.copy()
        self.atoms = atoms
        self.calc = self.model.calculator()
        atoms.calc = self.calc
        self.energy = atoms.get_potential_energy()
        self.calc.get_property("member_forces", atoms)
        self.results = self.calc.results

    def rounding(self, scale: float) -> float:
        """The agreement two evaluations of quantities of size ``scale``
        by different summation orders can be asked for: 32 ulp of it in the
        committee's precision, and never below 1e-9."""
        return max(1e-9, 32 * self.eps * max(1.0, scale))

    @cached_property
    def loaded(self) -> CommitteeModel:
        """The committee saved as a checkpoint under ``root`` and loaded."""
        path = write_checkpoint(
            self.model,
            self.root / "ckpt",
            options=self.options,
            seed=1,
            report=self.report,
        )
        return load_checkpoint(path)


@contextmanager
def backend_under_test(
    backend: str | Backend,
    options: dict[str, Any] | None = None,
    *,
    warm_options: dict[str, Any] | None = None,
    n_frames: int = 12,
    workdir: str | Path | None = None,
    gradient_rtol: float = 1e-4,
    h: float | None = None,
) -> Iterator[BackendUnderTest]:
    """``backend`` (a name of :data:`hyperal.models.BACKENDS` or a
    :class:`Backend`) fitted on ``n_frames`` EMT cells, for the checks of
    :data:`CHECKS`; its checkpoint goes under ``workdir`` (default: a
    temporary folder, removed on exit). Parameters as :func:`check_backend`."""
    backend = get_backend(backend) if isinstance(backend, str) else backend
    opts = backend.parse_options(options)
    with tempfile.TemporaryDirectory(prefix="hyperal-check-") as scratch:
        yield BackendUnderTest(
            backend,
            opts,
            emt_cells(n_frames),
            Path(workdir or scratch),
            warm_options=warm_options,
            gradient_rtol=gradient_rtol,
            h=h,
        )
