"""``alpha: auto`` — the bias-to-force ratio held at its target (van der Oord
et al. 2023) — re-derived bias results, and the uncertainty cut-off."""

from __future__ import annotations

import numpy as np
import pytest

from hyperal.committee import AdversarialBias, emt_committee
from hyperal.evolve import DimerEvolver, MDEvolver, RelaxEvolver
from hyperal.evolve.contour import ContourEvolver


class Counting:
    """Counts the committee's calculations (one per new configuration)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        inner_calculate = inner.calculate

        def calculate(*args, **kwargs):
            self.calls += 1
            return inner_calculate(*args, **kwargs)

        inner.calculate = calculate


def test_auto_alpha_keeps_the_bias_to_force_ratio_at_its_target(cuni):
    """On an EMT MD run the mean bias force |α·∇σ_U| over the mean committee
    force |F̄| stays within 10 % of alpha_relative, step after step."""
    committee = emt_committee(4, ["Cu", "Ni"], relative_std=0.03, rng=7)
    counter = Counting(committee)
    result = MDEvolver(
        calculator=committee,
        alpha="auto",
        alpha_relative=0.2,
        temperature_K=600,
        rng=3,
    ).run(cuni, steps=60)
    assert result.status == "step_limit", result.reason
    ratios = np.array(result.info["bias_ratio_trace"])
    alphas = np.array(result.info["alpha_trace"])
    assert len(ratios) == 61 and len(alphas) == 61  # the start and every step
    assert np.all(np.abs(ratios / 0.2 - 1) < 0.10), ratios
    assert result.info["bias_ratio_mean"] == pytest.approx(0.2, rel=0.05)  # EMA lag
    assert np.ptp(alphas) > 0  # α follows the structure
    # re-deriving the bias for a new α costs no committee call: one per step
    assert counter.calls <= 61 + 2


def test_the_ratio_is_the_forces_the_dynamics_used(cuni):
    """Recompute the bias at the last frame with the last α: its forces are
    the committee's plus α·∇σ_U with the traced ratio."""
    committee = emt_committee(4, ["Cu", "Ni"], relative_std=0.03, rng=7)
    result = MDEvolver(
        calculator=committee, alpha="auto", alpha_relative=0.3, rng=1
    ).run(cuni, steps=10)
    last = result.frames[-1].to_atoms()
    bias = AdversarialBias(committee, result.info["alpha_trace"][-1])
    last.calc = bias
    forces = last.get_forces()
    push = np.linalg.norm(forces - bias.results["committee_forces"], axis=1).mean()
    force = np.linalg.norm(bias.results["committee_forces"], axis=1).mean()
    assert push / force == pytest.approx(result.info["bias_ratio_trace"][-1], rel=1e-6)


def test_rebias_equals_a_fresh_calculation(cuni):
    committee = emt_committee(4, ["Cu", "Ni"], relative_std=0.03, rng=7)
    bias = AdversarialBias(committee, 0.5)
    atoms = cuni.copy()
    atoms.calc = bias
    atoms.get_forces()
    bias.rebias(2.0)
    assert bias.alpha == 2.0
    rebiased = (atoms.get_potential_energy(), atoms.get_forces().copy())
    fresh = AdversarialBias(
        emt_committee(4, ["Cu", "Ni"], relative_std=0.03, rng=7), 2.0
    )
    probe = cuni.copy()
    probe.calc = fresh
    assert rebiased[0] == pytest.approx(probe.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(rebiased[1], probe.get_forces(), atol=1e-10)


@pytest.mark.parametrize("evolver", [RelaxEvolver, DimerEvolver])
def test_auto_alpha_in_relaxation_and_dimer(cuni, committee, evolver):
    result = evolver(calculator=committee, alpha="auto", alpha_relative=0.1, rng=0).run(
        cuni, steps=15
    )
    assert result.status in ("converged", "step_limit"), result.reason
    assert result.info["alpha"] == "auto" and result.info["alpha_trace"]
    assert all(a > 0 for a in result.info["alpha_trace"])


def test_the_uncertainty_cut_off_ends_the_run_and_drops_the_frame(cuni, committee):
    # alpha 5: the bias drives σ_U up, so the limit is crossed mid-run
    free = MDEvolver(calculator=committee, alpha=5.0, rng=11).run(cuni, steps=40)
    limit = float(np.median([f.sigma_per_atom for f in free.frames]))
    cut = MDEvolver(
        calculator=committee, alpha=5.0, rng=11, max_sigma_eV_atom=limit
    ).run(cuni, steps=40)
    # the cut fires at the first step whose σ_U / N passes the limit — not
    # at step 0 (σ_U itself is N times larger) — and keeps the frames before
    first = next(f.step for f in free.frames if f.sigma_per_atom > limit)
    assert first >= 2, "the check needs frames before the cut"
    assert cut.status == "exploded" and "max_sigma_eV_atom" in cut.reason
    assert cut.steps == first
    assert [f.step for f in cut.frames] == list(range(first))
    assert all(f.sigma_per_atom <= limit for f in cut.frames)
    # the same trajectory up to the cut
    assert [f.step for f in cut.frames] == [f.step for f in free.frames][
        : len(cut.frames)
    ]


def test_validation(committee):
    with pytest.raises(
        ValueError, match="alpha must be a finite number >= 0 or 'auto'"
    ):
        MDEvolver(calculator=committee, alpha="adaptive")
    with pytest.raises(ValueError, match="alpha_relative must be"):
        MDEvolver(calculator=committee, alpha="auto", alpha_relative=0)
    with pytest.raises(ValueError, match="alpha_smoothing must be in"):
        MDEvolver(calculator=committee, alpha="auto", alpha_smoothing=1.0)
    with pytest.raises(ValueError, match="max_sigma_eV_atom must be"):
        MDEvolver(calculator=committee, max_sigma_eV_atom=-1.0)
    with pytest.raises(ValueError, match="alpha must be 0 for contour exploration"):
        ContourEvolver(calculator=committee, alpha="auto")
