"""The evolvers on the built-in BPNN committee (untrained: its members disagree)."""

from __future__ import annotations

import numpy as np
import pytest

from hyperal.evolve import make_evolver, select_frame
from hyperal.models import BPNN


@pytest.fixture(scope="module")
def bpnn_calc():
    model = BPNN(["Cu", "Ni"], n_members=3, cutoff=4.5, hidden=(8,), dtype="float64")
    return model.as_calculator()


@pytest.mark.parametrize("scheme", ["advb_md", "advb_ce", "advb_relax", "advb_dimer"])
def test_biased_schemes_run_on_the_bpnn_committee(scheme, bpnn_calc, cuni):
    params = {"reference": "start", "energy_above_meV_atom": 20.0}
    result = make_evolver(
        scheme, bpnn_calc, params if scheme == "advb_ce" else {}, rng=0
    ).run(cuni, steps=5)
    assert result.status in ("step_limit", "converged"), result.reason
    frame = result.frames[-1]
    probe = frame.to_atoms()
    probe.calc = bpnn_calc
    assert frame.energy == pytest.approx(probe.get_potential_energy(), abs=1e-9)
    assert frame.sigma == pytest.approx(
        bpnn_calc.get_property("energy_uncertainty", probe), abs=1e-9
    )
    assert np.isfinite(result.sigmas).all() and (result.sigmas > 0).all()
    assert select_frame(result).selected
