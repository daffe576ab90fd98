"""A campaign with the MACE committee (slow: every fit trains MACE members)."""

from __future__ import annotations

import pytest

from hyperal.campaign import Campaign, parse_config
from hyperal.models.checkpoint import read_manifest
from hyperal.runs import Store
from tests.campaign.conftest import tiny


@pytest.mark.slow
def test_a_campaign_runs_with_the_mace_backend(tmp_path):
    pytest.importorskip("mace")
    data = tiny(
        tmp_path,
        loops=1,
        initial={"structures": 4, "relax_steps": 4},
        counts={"derived_metal": 4, "derived_oxide": 0, "random": 0},
        scheme={"name": "advb_md", "steps": 5},
    )
    data["committee"] = {
        "backend": "mace",
        "n_members": 2,
        "r_max_A": 4.0,
        "num_channels": 8,
        "fit": {"max_num_epochs": 10, "batch_size": 4},
    }
    metrics = Campaign(parse_config(data)).run()
    assert [m.loop for m in metrics] == [0, 1]
    assert metrics[0].fit.backend == "mace" and not metrics[0].fit.warm_started
    assert metrics[1].fit.warm_started
    assert metrics[1].n_selected + metrics[1].n_skipped == 3
    assert metrics[1].errors("gentle").force_rmse_meV_A > 0
    store = Store(data["store"])
    manifest = read_manifest(store.checkpoint_path(1))
    assert manifest.backend == "mace" and manifest.n_members == 2
    assert sorted(manifest.files) == [
        "mace.json",
        "member-0.model",
        "member-1.model",
    ]
