"""``check_backend``: the conformance check every model backend must pass.

After torch-sim's ``validate_model_outputs``: a backend is proven by checks of
what hyperal relies on, not by a campaign happening to run. On small EMT-
labelled Cu–Ni cells it fits a committee and checks, raising
``AssertionError`` naming the failed check:

- ``fit``: a finite :class:`~hyperal.models.protocol.FitReport`; the model
  learned (training force RMSE below the RMS reference force);
- ``keys``: every committee key with its shape; ``energy`` and ``forces`` are
  the member means, σ_U the population std, ``forces_uncertainty`` the
  per-atom member disagreement; the member count is the configured one;
- ``gradients``: forces = −∂E/∂r and ∇σ_U by central differences (and the
  stress by finite strains, when offered);
- ``invariance``: energies unchanged by a translation and a permutation of the
  atoms, forces permuted with them;
- ``features``: ``atomic_features`` of shape (M, N, F), finite;
- ``not mutated``: the input Atoms unchanged by a calculation;
- ``checkpoint``: save -> load through a checkpoint directory gives identical
  predictions;
- ``seed``: two fits with one seed give identical predictions;
- ``warm start``: a short fit from a fitted committee stays near it, nearer
  than the same short fit from scratch;
- ``elements``: a structure with an element the model lacks is refused with an
  error naming it;
- ``bias``: three steps of adversarially biased MD run on the calculator;
- ``process state``: torch's default dtype and the environment unchanged.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.fd import calculate_numerical_stress
from ase.calculators.singlepoint import SinglePointCalculator

from hyperal.labels import reference
from hyperal.models.checkpoint import load_checkpoint, write_checkpoint
from hyperal.models.protocol import Backend, CommitteeModel, predict
from hyperal.models.registry import get_backend
from hyperal.testing import central_difference


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


def _predict(model: CommitteeModel, frames: list[Atoms]) -> np.ndarray:
    """Energies and force components of every frame, one flat array."""
    return np.concatenate(
        [np.r_[p.energy, p.forces.ravel()] for p in predict(model, frames)]
    )


def _check(condition: bool, name: str, detail: str) -> None:
    if not condition:
        raise AssertionError(f"check_backend: {name}: {detail}")


def check_backend(
    backend: str | Backend,
    options: dict[str, Any] | None = None,
    *,
    warm_options: dict[str, Any] | None = None,
    n_frames: int = 12,
    workdir: str | Path | None = None,
    gradient_rtol: float = 1e-4,
    h: float = 1e-4,
) -> list[str]:
    """Run every conformance check on ``backend`` (a name of
    :data:`hyperal.models.BACKENDS` or a :class:`Backend`); returns the names
    of the checks passed.

    Parameters
    ----------
    options : dict, optional
        The backend's options (small settings keep the check fast; use float64
        so the finite-difference checks are meaningful).
    warm_options : dict, optional
        Fit options of the short fits of the warm-start check (default: the
        options' ``fit`` section).
    gradient_rtol : float
        Finite-difference tolerance relative to the largest force component.
    """
    import torch

    backend = get_backend(backend) if isinstance(backend, str) else backend
    opts = backend.parse_options(options)
    dtype, environ = torch.get_default_dtype(), dict(os.environ)
    frames = emt_cells(n_frames)
    passed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hyperal-check-") as scratch:
        root = Path(workdir or scratch)
        model = backend.build(("Cu", "Ni"), opts, seed=1)
        report = model.fit(frames, opts.fit, seed=1)
        _check(
            report.n_train + report.n_validation == len(frames)
            and report.wall_s > 0
            and not report.warm_started,
            "fit",
            f"report does not describe the fit: {report}",
        )
        pred = _predict(model, frames)
        ref = np.concatenate(
            [np.r_[r.energy, r.forces.ravel()] for r in map(reference, frames)]
        )
        index = np.cumsum([0] + [1 + 3 * len(a) for a in frames])
        force_mask = np.ones(len(ref), bool)
        force_mask[index[:-1]] = False
        f_rmse = np.sqrt(np.mean((pred - ref)[force_mask] ** 2))
        f_rms = np.sqrt(np.mean(ref[force_mask] ** 2))
        _check(
            np.isfinite(pred).all() and f_rmse < f_rms,
            "fit",
            f"training force RMSE {f_rmse:.3g} eV/Å not below the RMS reference "
            f"force {f_rms:.3g} eV/Å: the model did not learn",
        )
        passed.append("fit")

        atoms = frames[0].copy()
        atoms.calc = None
        before = atoms.copy()
        calc = model.calculator()
        atoms.calc = calc
        m, n = model.n_members, len(atoms)
        energy = atoms.get_potential_energy()
        calc.get_property("member_forces", atoms)
        r = calc.results
        _check(
            np.array_equal(atoms.positions, before.positions)
            and np.array_equal(atoms.numbers, before.numbers)
            and np.array_equal(atoms.cell, before.cell)
            and set(atoms.arrays) == set(before.arrays)
            and atoms.info == before.info,
            "not mutated",
            "a calculation changed the input Atoms",
        )
        passed.append("not mutated")

        shapes = {
            "member_energies": (m,),
            "forces": (n, 3),
            "member_forces": (m, n, 3),
            "energy_uncertainty_gradient": (n, 3),
            "forces_uncertainty": (n,),
        }
        for key, shape in shapes.items():
            _check(
                key in r and np.shape(r[key]) == shape,
                "keys",
                f"{key} has shape {np.shape(r.get(key))}, expected {shape}",
            )
        for key in ("energy", "free_energy", "energy_uncertainty"):
            _check(
                key in r and np.ndim(r[key]) == 0,
                "keys",
                f"{key} missing or not a scalar",
            )
        me, mf = r["member_energies"], r["member_forces"]
        _check(m == opts.n_members, "keys", f"{m} members, configured {opts.n_members}")
        _check(
            math.isclose(energy, me.mean(), rel_tol=1e-9, abs_tol=1e-9),
            "keys",
            "energy is not the member mean",
        )
        _check(
            np.allclose(r["forces"], mf.mean(0), atol=1e-9),
            "keys",
            "forces are not the member mean",
        )
        sigma = float(np.sqrt(np.mean((me - me.mean()) ** 2)))
        _check(
            math.isclose(r["energy_uncertainty"], sigma, rel_tol=1e-6, abs_tol=1e-12),
            "keys",
            "energy_uncertainty is not the population std",
        )
        _check(
            np.allclose(
                r["forces_uncertainty"],
                np.sqrt(np.mean(np.sum((mf - mf.mean(0)) ** 2, 2), 0)),
                atol=1e-9,
            ),
            "keys",
            "forces_uncertainty is not the per-atom member disagreement",
        )
        _check(
            math.isclose(
                r["energy_uncertainty_per_atom"], sigma / n, rel_tol=1e-6, abs_tol=1e-12
            ),
            "keys",
            "energy_uncertainty_per_atom is not σ_U / N",
        )
        passed.append("keys")

        def committee(key):
            probe_calc = model.calculator()

            def value(probe):
                probe.calc = probe_calc
                probe.get_potential_energy()
                return float(probe_calc.results[key])

            return value

        scale = max(float(np.abs(r["forces"]).max()), 1e-3)
        fd_forces = -central_difference(committee("energy"), atoms, h)
        error = np.abs(fd_forces - r["forces"]).max()
        _check(
            error < gradient_rtol * scale + 1e-6,
            "gradients",
            f"forces differ from −∂E/∂r by {error:.3g} eV/Å",
        )
        fd_sigma = central_difference(committee("energy_uncertainty"), atoms, h)
        g_scale = max(float(np.abs(r["energy_uncertainty_gradient"]).max()), 1e-3)
        error = np.abs(fd_sigma - r["energy_uncertainty_gradient"]).max()
        _check(
            error < gradient_rtol * max(g_scale, scale) + 1e-6,
            "gradients",
            f"∇σ_U differs from finite differences by {error:.3g} eV/Å",
        )
        if "stress" in calc.implemented_properties:
            stress = atoms.get_stress()
            numerical = calculate_numerical_stress(atoms, eps=1e-5)
            error = np.abs(stress - numerical).max()
            _check(
                error < gradient_rtol * max(np.abs(stress).max(), 1e-3) + 1e-6,
                "gradients",
                f"stress differs from finite strains by {error:.3g} eV/Å³",
            )
        passed.append("gradients")

        moved = atoms.copy()
        moved.positions += [0.31, -0.17, 0.23]
        perm = np.random.default_rng(0).permutation(n)
        shuffled = atoms[perm]
        for other, what in ((moved, "translation"), (shuffled, "permutation")):
            other.calc = model.calculator()
            _check(
                math.isclose(
                    other.get_potential_energy(), energy, rel_tol=1e-6, abs_tol=1e-6
                ),
                "invariance",
                f"energy changed under a {what}",
            )
        _check(
            np.allclose(shuffled.get_forces(), r["forces"][perm], atol=1e-5),
            "invariance",
            "forces not permuted with the atoms",
        )
        passed.append("invariance")

        features = model.atomic_features(atoms)
        _check(
            features.ndim == 3
            and features.shape[:2] == (m, n)
            and np.isfinite(features).all(),
            "features",
            f"atomic_features has shape {features.shape}, "
            f"expected ({m}, {n}, F), finite",
        )
        passed.append("features")

        path = write_checkpoint(
            model, root / "ckpt", options=opts, seed=1, report=report
        )
        loaded = load_checkpoint(path)
        _check(
            np.array_equal(_predict(loaded, frames), pred),
            "checkpoint",
            "save -> load changed the predictions",
        )
        passed.append("checkpoint")

        again = backend.build(("Cu", "Ni"), opts, seed=1)
        again.fit(frames, opts.fit, seed=1)
        _check(
            np.allclose(_predict(again, frames), pred, rtol=0, atol=1e-8),
            "seed",
            "two fits with one seed differ",
        )
        passed.append("seed")

        short = (
            opts.fit
            if warm_options is None
            else opts.fit.model_copy(update=warm_options)
        )
        warm = backend.build(("Cu", "Ni"), opts, seed=2)
        warm_report = warm.fit(frames, short, init=loaded, seed=2)
        cold = backend.build(("Cu", "Ni"), opts, seed=2)
        cold.fit(frames, short, seed=2)
        d_warm = np.sqrt(np.mean((_predict(warm, frames) - pred) ** 2))
        d_cold = np.sqrt(np.mean((_predict(cold, frames) - pred) ** 2))
        _check(
            warm_report.warm_started and d_warm < d_cold,
            "warm start",
            f"a warm fit moved {d_warm:.3g} from its start, "
            f"a cold one ends {d_cold:.3g} away",
        )
        passed.append("warm start")

        alien = bulk("Zr", "hcp", a=3.2, c=5.2).repeat((2, 1, 1))
        alien.calc = model.calculator()
        try:
            alien.get_potential_energy()
        except Exception as exc:  # noqa: BLE001 - any error type, but it must name it
            _check(
                "Zr" in str(exc), "elements", f"error does not name the element: {exc}"
            )
        else:
            _check(
                False, "elements", "a structure with an unknown element was evaluated"
            )
        passed.append("elements")

        from hyperal.evolve.schemes import make_evolver

        walk = atoms.copy()
        result = make_evolver("advb_md", model.calculator(), {"alpha": 1.0}, rng=0).run(
            walk, steps=3
        )
        _check(
            result.status == "step_limit",
            "bias",
            f"biased MD ended {result.status}: {result.reason}",
        )
        passed.append("bias")

    _check(
        torch.get_default_dtype() == dtype,
        "process state",
        "torch's default dtype changed",
    )
    changed = sorted(
        k
        for k in set(os.environ) | set(environ)
        if os.environ.get(k) != environ.get(k)
        # torch itself sets this on the first use of its compiler stack
        and not k.startswith("TORCHINDUCTOR_")
    )
    _check(not changed, "process state", f"environment variables changed: {changed}")
    passed.append("process state")
    return passed
