"""A store belongs to one campaign: the settings that decide what it holds are
recorded in it, and a run with other settings is refused, naming the keys.

Never a difference: more (or fewer) ``loops``, the ``store`` path, the
``executor``, the oracle's ``timeout_s``, ``retries`` and where its
files go (``workdir``, ``keep_workdirs``), how σ is checked
(``calibration``) and when to stop early (``stop``) — how and how long the
work runs and how it is judged, not what it produces. Accepted with
``--accept-changes``: how later loops explore, select and fit (``scheme``,
``selection``, ``counts``, ``difficult_fraction``, ``committee.fit``,
``committee.warm_start``); the loops already run keep their data, later ones
follow the new settings, and the store records the new fingerprint. Accepted
with ``--accept-oracle-change`` only: another oracle or other oracle
arguments (a wrapper fixed after its broken calls were all rejected: the
labels already stored stay, the store records the change). Always refused:
the system, the initial data, the seed, the committee's architecture — a
store mixing those would hold two campaigns.

A key that a later version added reads, in a store written before it, as
absent; absent and ``null`` are the same setting (a new key whose ``null``
keeps the old behaviour continues an old store when set to ``null``).
"""

from __future__ import annotations

from typing import Any

#: Dotted keys (and their sub-keys) that never count as a difference.
IGNORED = (
    "loops",
    "store",
    "executor",
    "oracle.timeout_s",
    "oracle.retries",
    "oracle.workdir",
    "oracle.keep_workdirs",
    "calibration",
    "stop",
)
#: Dotted keys (and sub-keys) whose change ``--accept-changes`` accepts.
ACCEPTABLE = (
    "scheme",
    "selection",
    "counts",
    "difficult_fraction",
    "committee.fit",
    "committee.warm_start",
    "triage",
)


def _under(key: str, prefixes) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    keys = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            keys += differences(x, y, f"{prefix}{key}.")
        elif x != y:  # a key absent from one side reads as None
            keys.append(f"{prefix}{key}")
    return keys


def fingerprint(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings (a campaign file's, as JSON-like dict) that decide what a
    store holds: everything but :data:`IGNORED`."""

    def strip(value, prefix=""):
        if not isinstance(value, dict):
            return value
        return {
            k: strip(v, f"{prefix}{k}.")
            for k, v in value.items()
            if not _under(f"{prefix}{k}", IGNORED)
        }

    return strip(settings)


def check(
    stored: dict | None,
    current: dict,
    *,
    accept: bool = False,
    accept_oracle: bool = False,
) -> list[str]:
    """The differing keys a run may not continue with (empty: it may). With
    ``accept``, differences under :data:`ACCEPTABLE` are allowed; with
    ``accept_oracle``, a changed ``oracle`` (a fixed wrapper: the labels
    already stored stay, the new oracle makes the rest)."""
    if stored is None:
        return []
    differ = differences(stored, current)
    return [
        k
        for k in differ
        if not (accept and _under(k, ACCEPTABLE))
        and not (accept_oracle and _under(k, ("oracle",)))
    ]


def refusal(keys: list[str], what: str = "campaign") -> str:
    """The one-line message for a refused run."""
    acceptable = [k for k in keys if _under(k, ACCEPTABLE)]
    oracle = [k for k in keys if _under(k, ("oracle",))]
    hint = (
        f"; or pass --accept-changes to continue with new {', '.join(acceptable)}"
        if acceptable and len(acceptable) == len(keys)
        else "; or, if the old oracle was broken and its labels are fine to keep "
        "(its failed calls never became data), pass --accept-oracle-change"
        if oracle and len(oracle) == len(keys)
        else ""
    )
    return (
        f"this store holds a {what} with other settings ({', '.join(keys)}); use "
        f"a new store, or restore those settings{hint}"
    )
