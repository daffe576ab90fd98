"""Small helpers shared across hyperal's packages."""

from __future__ import annotations

import csv
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, TypeAdapter, ValidationError

#: A settings model (a file section, a backend's options).
Model = typing.TypeVar("Model", bound=BaseModel)


class ParameterError(ValueError):
    """A parameter a function refuses: ``key`` names it (the keyword, as a
    file names it), ``detail`` says why (the message is
    ``"<where><key> <detail>"``), so a settings check or a command can name
    the key the way its user gives it — a file's path, a command's option —
    without reading the message."""

    def __init__(self, key: str, detail: str, *, where: str = ""):
        super().__init__(f"{where}{key} {detail}")
        self.key = key
        self.detail = detail


def changed(settings: Model, **changes) -> Model:
    """``settings`` with ``changes`` made, validated by their own model
    (pydantic's ValidationError, a ValueError, names a wrong key or value);
    ``settings`` itself when nothing changes."""
    if not changes:
        return settings
    return type(settings).model_validate({**settings.model_dump(), **changes})


#: What every function that draws random numbers accepts.
RngLike = np.random.Generator | int | None


def as_rng(rng: RngLike) -> np.random.Generator:
    """``np.random.default_rng`` that passes a Generator through unchanged."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def type_problems(cls: type, params: dict[str, Any]) -> list[str]:
    """One line for each of ``params`` whose value does not fit the type
    that the dataclass ``cls`` declares for it (an array field takes a
    nested list of numbers); names ``cls`` does not declare are skipped."""

    hints = typing.get_type_hints(cls)
    problems = []
    for key, value in params.items():
        hint = hints.get(key)
        if hint is None:
            continue
        is_array = hint is np.ndarray or np.ndarray in typing.get_args(hint)
        try:
            if is_array and value is not None and not isinstance(value, int):
                np.asarray(value, dtype=float)
            else:
                TypeAdapter(
                    hint, config={"arbitrary_types_allowed": True}
                ).validate_python(value)
        except (ValidationError, ValueError, TypeError):
            problems.append(f"{key}: expected {_type_name(hint)}, got {value!r}")
    return problems


def _type_name(hint) -> str:
    """A type as a user reads it: ``float``, ``float or 'auto'``, ``list``."""

    if hint is np.ndarray:
        return "list"
    if hint is type(None):
        return "null"
    if isinstance(hint, type):
        return hint.__name__
    if typing.get_origin(hint) is typing.Literal:
        return " or ".join(repr(v) for v in typing.get_args(hint))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(hint))
    text = repr(hint).replace("numpy.ndarray", "list")
    return text.replace("typing.", "")


def write_csv(path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write one CSV file: ``header``, then ``rows`` (values as Python prints
    them, None empty) — the one way every table of hyperal is written.
    Returns the path."""

    path = Path(path)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(header)
        out.writerows(rows)
    return path


def duration(seconds: float) -> str:
    """A wall time as people read it: ``4m05s``, ``2h07m``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
