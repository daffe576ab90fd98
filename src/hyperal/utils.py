"""Small helpers shared across hyperal's packages."""

from __future__ import annotations

from typing import Any

import numpy as np

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
    import typing

    from pydantic import TypeAdapter, ValidationError

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
            if isinstance(hint, type) and hint is not np.ndarray:
                text = hint.__name__
            else:
                text = repr(hint).replace("numpy.ndarray", "list")
                text = text.replace("typing.", "")
            problems.append(f"{key}: expected {text}, got {value!r}")
    return problems
