"""``BACKENDS``: backend name -> :class:`~hyperal.models.protocol.Backend`."""

from __future__ import annotations

from hyperal.models.options import BPNNOptions, MACEOptions
from hyperal.models.protocol import Backend
from hyperal.registry import Registry

BACKENDS: Registry[Backend] = Registry(
    "backend",
    {
        "bpnn": Backend(
            "bpnn", BPNNOptions, "hyperal.models.bpnn.backend:BPNNCommittee"
        ),
        "mace": Backend(
            "mace",
            MACEOptions,
            "hyperal.models.mace:MACECommittee",
            dtype_field="default_dtype",
        ),
    },
)
"""Every committee backend by name (``committee.backend`` in a campaign file): its
options model and where its committee class lives, imported on first use."""


def get_backend(name: str) -> Backend:
    """The registered backend ``name`` (a clear error naming the allowed ones)."""
    return BACKENDS[name]
