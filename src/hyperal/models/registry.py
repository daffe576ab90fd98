"""``BACKENDS``: backend name -> :class:`~hyperal.models.protocol.Backend`."""

from __future__ import annotations

from hyperal.models.options import BPNNOptions, MACEOptions
from hyperal.models.protocol import Backend

BACKENDS: dict[str, Backend] = {
    "bpnn": Backend("bpnn", BPNNOptions, "hyperal.models.bpnn.backend:BPNNCommittee"),
    "mace": Backend("mace", MACEOptions, "hyperal.models.mace:MACECommittee"),
}
"""Every committee backend by name (``committee.backend`` in a campaign file): its
options model and where its committee class lives, imported on first use."""


def get_backend(name: str) -> Backend:
    """The registered backend ``name`` (a clear error naming the allowed ones)."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown backend {name!r}; allowed: {', '.join(BACKENDS)}"
        ) from None
