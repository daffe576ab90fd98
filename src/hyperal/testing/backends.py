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

Each check is a function of a :class:`BackendUnderTest` (the fitted
committee and what the checks share, computed once when first needed),
listed by name in :data:`CHECKS`, so a backend author can run them one by
one while writing a backend::

    with backend_under_test("mace", options) as b:
        check_keys(b)
        check_gradients(b)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase.build import bulk
from ase.calculators.fd import calculate_numerical_stress

from hyperal.evolve.schemes import make_evolver
from hyperal.labels import reference
from hyperal.models.protocol import Backend
from hyperal.testing.numerical import central_difference
from hyperal.testing.subject import (
    BackendUnderTest,
    backend_under_test,
    predictions,
)


def _check(condition: bool, name: str, detail: str) -> None:
    if not condition:
        raise AssertionError(f"check_backend: {name}: {detail}")


def check_fit(b: BackendUnderTest) -> None:
    """A finite fit report that describes the fit; the model learned."""
    report, frames, pred = b.report, b.frames, b.pred
    _check(
        report.n_train + report.n_validation == len(frames)
        and report.wall_s > 0
        and not report.warm_started,
        "fit",
        f"report does not describe the fit: {report}",
    )
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


def check_not_mutated(b: BackendUnderTest) -> None:
    """A calculation leaves the input Atoms as they were."""
    atoms, before = b.atoms, b.before
    _check(
        np.array_equal(atoms.positions, before.positions)
        and np.array_equal(atoms.numbers, before.numbers)
        and np.array_equal(atoms.cell, before.cell)
        and set(atoms.arrays) == set(before.arrays)
        and atoms.info == before.info,
        "not mutated",
        "a calculation changed the input Atoms",
    )


def check_keys(b: BackendUnderTest) -> None:
    """Every committee key with its shape; means, σ_U and the per-atom
    disagreement computed from the members."""
    r, m, n = b.results, b.model.n_members, len(b.atoms)
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
            key in r and np.ndim(r[key]) == 0, "keys", f"{key} missing or not a scalar"
        )
    me, mf = r["member_energies"], r["member_forces"]
    wanted = b.options.n_members
    _check(m == wanted, "keys", f"{m} members, configured {wanted}")
    # the means may be summed in another order than here: agreement to
    # b.rounding (32 ulp of the committee's precision), not to the bit
    _check(
        abs(b.energy - me.mean()) <= b.rounding(abs(b.energy)),
        "keys",
        "energy is not the member mean",
    )
    f_scale = float(np.abs(mf).max())
    error = float(np.abs(r["forces"] - mf.mean(0)).max())
    _check(
        error <= b.rounding(f_scale),
        "keys",
        f"forces are not the member mean (off by {error:.3g} eV/Å)",
    )
    sigma = float(np.sqrt(np.mean((me - me.mean()) ** 2)))
    _check(
        math.isclose(
            r["energy_uncertainty"], sigma, rel_tol=max(1e-6, 32 * b.eps), abs_tol=1e-12
        ),
        "keys",
        "energy_uncertainty is not the population std",
    )
    _check(
        np.allclose(
            r["forces_uncertainty"],
            np.sqrt(np.mean(np.sum((mf - mf.mean(0)) ** 2, 2), 0)),
            rtol=0,
            atol=b.rounding(f_scale),
        ),
        "keys",
        "forces_uncertainty is not the per-atom member disagreement",
    )
    _check(
        math.isclose(
            r["energy_uncertainty_per_atom"],
            sigma / n,
            rel_tol=max(1e-6, 32 * b.eps),
            abs_tol=1e-12,
        ),
        "keys",
        "energy_uncertainty_per_atom is not σ_U / N",
    )


def check_gradients(b: BackendUnderTest) -> None:
    """Forces = −∂E/∂r and ∇σ_U by central differences; the stress by finite
    strains when the calculator offers it. Tolerance: ``gradient_rtol`` of the
    largest force component, plus the rounding of a central difference in the
    committee's precision (4·eps·(|E| + 1)/h, negligible in float64)."""
    atoms, r, h, rtol = b.atoms, b.results, b.h, b.gradient_rtol
    rounding = 4 * b.eps * (abs(b.energy) + 1.0) / h

    def committee(key):
        probe_calc = b.model.calculator()

        def value(probe):
            probe.calc = probe_calc
            probe.get_potential_energy()
            return float(probe_calc.results[key])

        return value

    scale = max(float(np.abs(r["forces"]).max()), 1e-3)
    fd_forces = -central_difference(committee("energy"), atoms, h)
    error = np.abs(fd_forces - r["forces"]).max()
    _check(
        error < rtol * scale + 1e-6 + rounding,
        "gradients",
        f"forces differ from −∂E/∂r by {error:.3g} eV/Å",
    )
    fd_sigma = central_difference(committee("energy_uncertainty"), atoms, h)
    g_scale = max(float(np.abs(r["energy_uncertainty_gradient"]).max()), 1e-3)
    error = np.abs(fd_sigma - r["energy_uncertainty_gradient"]).max()
    _check(
        error < rtol * max(g_scale, scale) + 1e-6 + rounding,
        "gradients",
        f"∇σ_U differs from finite differences by {error:.3g} eV/Å",
    )
    if "stress" in b.calc.implemented_properties:
        stress = atoms.get_stress()
        # a strain step of h / 10 (1e-5 in float64)
        strain = h / 10.0
        numerical = calculate_numerical_stress(atoms, eps=strain)
        error = np.abs(stress - numerical).max()
        stress_rounding = (
            4 * b.eps * (abs(b.energy) + 1.0) / (strain * atoms.get_volume())
        )
        _check(
            error < rtol * max(np.abs(stress).max(), 1e-3) + 1e-6 + stress_rounding,
            "gradients",
            f"stress differs from finite strains by {error:.3g} eV/Å³",
        )


def check_invariance(b: BackendUnderTest) -> None:
    """Energies unchanged by a translation and a permutation of the atoms,
    forces permuted with them."""
    atoms, n = b.atoms, len(b.atoms)
    moved = atoms.copy()
    moved.positions += [0.31, -0.17, 0.23]
    perm = np.random.default_rng(0).permutation(n)
    shuffled = atoms[perm]
    for other, what in ((moved, "translation"), (shuffled, "permutation")):
        other.calc = b.model.calculator()
        _check(
            abs(other.get_potential_energy() - b.energy)
            <= max(1e-6 * max(1.0, abs(b.energy)), b.rounding(abs(b.energy))),
            "invariance",
            f"energy changed under a {what}",
        )
    _check(
        np.allclose(
            shuffled.get_forces(),
            b.results["forces"][perm],
            rtol=0,
            atol=max(1e-5, b.rounding(float(np.abs(b.results["forces"]).max()))),
        ),
        "invariance",
        "forces not permuted with the atoms",
    )


def check_features(b: BackendUnderTest) -> None:
    """``atomic_features`` of shape (M, N, F), finite."""
    m, n = b.model.n_members, len(b.atoms)
    features = b.model.atomic_features(b.atoms)
    _check(
        features.ndim == 3
        and features.shape[:2] == (m, n)
        and np.isfinite(features).all(),
        "features",
        f"atomic_features has shape {features.shape}, expected ({m}, {n}, F), finite",
    )


def check_checkpoint(b: BackendUnderTest) -> None:
    """Save -> load through a checkpoint folder gives identical predictions."""
    _check(
        np.array_equal(predictions(b.loaded, b.frames), b.pred),
        "checkpoint",
        "save -> load changed the predictions",
    )


def check_seed(b: BackendUnderTest) -> None:
    """Two fits with one seed give identical predictions."""
    again = b.backend.build(("Cu", "Ni"), b.options, seed=1)
    again.fit(b.frames, b.options.fit, seed=1)
    _check(
        np.allclose(predictions(again, b.frames), b.pred, rtol=0, atol=1e-8),
        "seed",
        "two fits with one seed differ",
    )


def check_warm_start(b: BackendUnderTest) -> None:
    """A short fit from the fitted committee stays nearer to it than the same
    short fit from scratch."""
    fit = b.options.fit
    short = fit if b.warm_options is None else fit.model_copy(update=b.warm_options)
    warm = b.backend.build(("Cu", "Ni"), b.options, seed=2)
    warm_report = warm.fit(b.frames, short, init=b.loaded, seed=2)
    cold = b.backend.build(("Cu", "Ni"), b.options, seed=2)
    cold.fit(b.frames, short, seed=2)
    d_warm = np.sqrt(np.mean((predictions(warm, b.frames) - b.pred) ** 2))
    d_cold = np.sqrt(np.mean((predictions(cold, b.frames) - b.pred) ** 2))
    _check(
        warm_report.warm_started and d_warm < d_cold,
        "warm start",
        f"a warm fit moved {d_warm:.3g} from its start, "
        f"a cold one ends {d_cold:.3g} away",
    )


def check_elements(b: BackendUnderTest) -> None:
    """A structure with an element the model lacks is refused, naming it."""
    alien = bulk("Zr", "hcp", a=3.2, c=5.2).repeat((2, 1, 1))
    alien.calc = b.model.calculator()
    try:
        alien.get_potential_energy()
    except Exception as exc:  # noqa: BLE001 - any error type, but it must name it
        _check("Zr" in str(exc), "elements", f"error does not name the element: {exc}")
    else:
        _check(False, "elements", "a structure with an unknown element was evaluated")


def check_bias(b: BackendUnderTest) -> None:
    """Three steps of adversarially biased MD run on the calculator."""

    evolver = make_evolver("advb_md", b.model.calculator(), {"alpha": 1.0}, rng=0)
    result = evolver.run(b.atoms.copy(), steps=3)
    _check(
        result.status == "step_limit",
        "bias",
        f"biased MD ended {result.status}: {result.reason}",
    )


CHECKS: dict[str, Callable[[BackendUnderTest], None]] = {
    "fit": check_fit,
    "not mutated": check_not_mutated,
    "keys": check_keys,
    "gradients": check_gradients,
    "invariance": check_invariance,
    "features": check_features,
    "checkpoint": check_checkpoint,
    "seed": check_seed,
    "warm start": check_warm_start,
    "elements": check_elements,
    "bias": check_bias,
}
"""Every conformance check by name, in the order :func:`check_backend` runs them
(``process state`` is checked around them all)."""


def check_backend(
    backend: str | Backend,
    options: dict[str, Any] | None = None,
    *,
    warm_options: dict[str, Any] | None = None,
    n_frames: int = 12,
    workdir: str | Path | None = None,
    gradient_rtol: float = 1e-4,
    h: float | None = None,
    only: Sequence[str] | None = None,
) -> list[str]:
    """Run the conformance checks of :data:`CHECKS` on ``backend`` (a name
    of :data:`hyperal.models.BACKENDS` or a :class:`Backend`), then check that
    the process state is unchanged; returns the names of the checks passed.

    Parameters
    ----------
    options : dict, optional
        The backend's options (default: the backend's defaults; small
        settings keep the check fast). The tolerances that are a matter of
        rounding follow the committee's precision (``Backend.dtype``): 32
        ulp for quantities summed in another order, and the finite-difference
        step and its rounding bound for the gradients — so a float32
        committee passes the same checks as a float64 one.
    warm_options : dict, optional
        Fit options of the short fits of the warm-start check (default: the
        options' ``fit`` section).
    gradient_rtol : float
        Finite-difference tolerance relative to the largest force component.
    h : float, optional
        Finite-difference step in Å (default: the cube root of the
        precision's machine epsilon, at least 1e-4 Å).
    only : sequence of str, optional
        Names of :data:`CHECKS` to run (default: all).
    """
    # lazy: `import hyperal` does not load torch
    import torch

    names = list(CHECKS) if only is None else list(only)
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise ValueError(
            f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}"
        )
    dtype, environ = torch.get_default_dtype(), dict(os.environ)
    passed: list[str] = []
    with backend_under_test(
        backend,
        options,
        warm_options=warm_options,
        n_frames=n_frames,
        workdir=workdir,
        gradient_rtol=gradient_rtol,
        h=h,
    ) as b:
        for name in names:
            CHECKS[name](b)
            passed.append(name)
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
