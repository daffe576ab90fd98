"""A label of the wrong shape is a failed label with its reason, never data."""

from __future__ import annotations

import numpy as np
from ase.calculators.emt import EMT

from hyperal.oracle import Oracle
from hyperal.runs.query import Where
from hyperal.runs.records import OracleStatus
from tests.helpers import rattled_cuni


class ExtraRowEMT(EMT):
    """EMT whose forces have one row too many (a broken parser)."""

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        forces = self.results["forces"]
        self.results["forces"] = np.vstack([forces, forces[:1]])


class MatrixStressEMT(EMT):
    """EMT whose stress comes as a 3×3 matrix."""

    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        if "stress" in self.results:
            v = self.results["stress"]
            self.results["stress"] = np.array(
                [[v[0], v[5], v[4]], [v[5], v[1], v[3]], [v[4], v[3], v[2]]]
            )


def test_forces_of_the_wrong_shape_are_a_failed_label():
    atoms = rattled_cuni(seed=1)
    label = Oracle("tests.reliability.test_labels:ExtraRowEMT").label(atoms)
    assert label.status == "failed" and label.forces is None
    assert (
        label.reason == "ValueError: forces of shape (33, 3) for 32 atoms "
        "(expected (32, 3))"
    )


def test_a_matrix_stress_is_stored_in_voigt_order():
    atoms = rattled_cuni(seed=1)
    good = Oracle("emt", stress=True).label(atoms)
    matrix = Oracle("tests.reliability.test_labels:MatrixStressEMT", stress=True)
    label = matrix.label(atoms)
    assert label.ok and label.stress.shape == (6,)
    np.testing.assert_allclose(label.stress, good.stress, rtol=0, atol=1e-14)


def test_a_loop_whose_every_oracle_call_fails_ends_the_run(tmp_path):
    """An oracle that stops working after loop 0 (a licence that expired) is
    not paid loop after loop: the loop ends the run with one line, and the
    failures are in the store."""
    from dataclasses import replace

    import pytest

    from hyperal.campaign import parse_config
    from hyperal.campaign.stages import active_loop, initial_loop
    from hyperal.runs import InProcessExecutor, StageContext, Store
    from hyperal.runs.context import RunError
    from tests.campaign.conftest import tiny

    config = parse_config(
        tiny(
            tmp_path,
            initial={"structures": 2, "relax_steps": 2},
            counts={"derived_metal": 3, "derived_oxide": 0, "random": 0},
        )
    )
    store = Store(config.store)
    ctx = StageContext(
        config, store, InProcessExecutor(), config.oracle.build(config.store)
    )
    checkpoint = initial_loop(ctx)
    broken = replace(ctx, oracle=Oracle("hyperal.testing:FlakyEMT", {"every": 1}))
    with pytest.raises(RunError) as error:
        active_loop(broken, 1, checkpoint)
    calls = store.count(Where(loop=1, status=OracleStatus.FAILED))
    assert calls >= 1 and store.count(Where(loop=1, status=OracleStatus.OK)) == 0
    assert str(error.value) == (
        f"loop 1: all {calls} oracle calls failed; first reason: "
        "RuntimeError: SCF failed (flaky test oracle)"
    )
    assert not (store.checkpoint_path(1, "main") / "manifest.json").exists()
