"""The pieces every run file (a campaign, a benchmark, a barrier campaign, a
test-set recipe) is read with: the strict base of its schema, YAML read
with repeated keys refused, and one error formatter that reports on the
schema it is given — one line per problem, naming the key by its dotted
path and, for an unknown key, the keys allowed there.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from ase.data import chemical_symbols
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """A run file that does not validate; one line per problem."""


class Settings(BaseModel):
    """The base of every file schema: an unknown key is an error."""

    # a NaN or an infinity is never a setting (it would fail late, or never)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _models_in(annotation) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (through lists, unions, tags)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _is_tag(model: type[BaseModel], key) -> bool:
    """Whether ``key`` is the tag of ``model`` in a tagged union (a field
    annotated with the one literal ``key``, such as ``backend: bpnn``)."""
    return any(
        get_origin(f.annotation) is Literal and get_args(f.annotation) == (key,)
        for f in model.model_fields.values()
    )


def _walk(loc: list, root: type[BaseModel]) -> tuple[list[type[BaseModel]], list]:
    """The models that may hold the last element of ``loc``, and ``loc``
    without the tags of tagged unions (``committee.hidden``, not
    ``committee.bpnn.hidden``)."""
    candidates: list[type[BaseModel]] = [root]
    shown = []
    for key in loc[:-1]:
        if isinstance(key, int):
            shown.append(key)
            continue
        tagged = [m for m in candidates if _is_tag(m, key)]
        if tagged:  # the union's tag picks the member
            candidates = tagged
            continue
        shown.append(key)
        candidates = [
            model
            for m in candidates
            if key in m.model_fields
            for model in _models_in(m.model_fields[key].annotation)
        ]
    return candidates, shown + loc[-1:]


def allowed_keys(loc: list, root: type[BaseModel]) -> list[str]:
    """The keys allowed where the last element of ``loc`` was refused, in the
    schema ``root``."""
    candidates, _ = _walk(loc, root)
    return sorted(candidates[0].model_fields) if len(candidates) == 1 else []


def _dotted(loc: list) -> str:
    """``system.metal_phases[0].species`` from its location parts."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


#: how pydantic names the branch of a union a value failed (``float``,
#: ``literal['auto']``, ``list[float]``, ``function-after[...]``)
_BRANCH = re.compile(r"^(float|int|str|bool|none|[a-z][a-z_-]*\[.*\])$")


def _branch_name(label: str) -> str:
    """A union branch as a user reads it: ``float``, ``'auto'``, ``null``."""
    if label.startswith("literal["):
        return " or ".join(x.strip() for x in label[8:-1].split(","))
    if label == "none":
        return "null"
    return label.split("[", 1)[0] if label.startswith("function-") else label


def _merge_branches(errors: list[dict]) -> list[dict]:
    """One error per value that fits no branch of its union (pydantic gives
    one per branch, located under the branch's name): ``expected float or
    'auto', got 'x'``."""
    merged: list[dict] = []
    seen: dict[tuple, dict] = {}
    for item in errors:
        loc = tuple(item["loc"])
        cut = next(
            (
                i
                for i, part in enumerate(loc)
                if i and isinstance(part, str) and _BRANCH.match(part)
            ),
            None,
        )
        if cut is None or item["type"] in ("extra_forbidden", "missing"):
            merged.append(item)
            continue
        key = loc[:cut]
        if key not in seen:
            seen[key] = {**item, "loc": key, "type": "union_branches", "branches": []}
            merged.append(seen[key])
        name = _branch_name(loc[cut])
        if name not in seen[key]["branches"]:
            seen[key]["branches"].append(name)
    for item in merged:
        if item["type"] == "union_branches":
            item["msg"] = (
                f"expected {' or '.join(item['branches'])}, got {item['input']!r}"
            )
    return merged


def format_errors(error: ValidationError, root: type[BaseModel]) -> str:
    """One line per problem of ``error`` (a validation of the schema ``root``),
    naming the key by its dotted path in ``root``; an unknown key lists the
    keys ``root`` allows there."""
    lines = []
    errors = _merge_branches(error.errors())
    for item in errors:
        loc = list(item["loc"])
        if item["type"] == "too_short" and any(
            len(other["loc"]) > len(loc) and list(other["loc"][: len(loc)]) == loc
            for other in errors
        ):
            continue  # pydantic's echo of an item refused inside: said already
        allowed = allowed_keys(loc, root) if item["type"] == "extra_forbidden" else []
        candidates, loc = _walk(loc, root) if loc else ([], loc)
        if loc and any(_is_tag(m, loc[-1]) for m in candidates):
            loc = loc[:-1]  # a model-level error of a tagged union's member
        where = _dotted(loc) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
            if allowed:
                message += f"; allowed: {', '.join(allowed)}"
        elif item["type"] == "missing":
            message = "missing (required)"
        elif item["type"] == "unknown_choice":  # a tagged union's own tag
            ctx = item.get("ctx", {})
            key = ctx.get("key", "")
            given = item.get("input", {})
            given = given.get(key) if isinstance(given, dict) else given
            what = ctx.get("what", key)
            message = f"unknown {what} {given!r}; allowed: {ctx.get('allowed', '')}"
            where = f"{_dotted(loc)}.{key}".lstrip(".")
        elif item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            ctx = item.get("ctx", {})
            key = ctx.get("discriminator", "").strip("'")
            where = f"{where}.{key}" if key else where
            message = (
                f"unknown {key} {ctx.get('tag')!r}; allowed: "
                f"{ctx.get('expected_tags', '')}"
                if item["type"] == "union_tag_invalid"
                else "missing (required)"
            )
        elif item["type"] == "literal_error":
            message = message.replace("Input should be", "must be one of")
        lines.append(f"{where}: {message}")
    return "\n".join(lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (the last
    one would silently win)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} given twice (lines {seen[key]} and "
                    f"{key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """A YAML file's data; a repeated key is an error, and so is a file that
    cannot be read as text (a :class:`ConfigError` naming the file)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8); expected YAML"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506


def read_file(path: str | Path) -> Any:
    """A YAML file's data, or a :class:`ConfigError` naming the file (missing,
    not YAML, a key given twice)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    try:
        return read_yaml(path)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path}: not valid YAML: {' '.join(str(exc).split())}"
        ) from None


def in_file(path: str | Path, problems: str | list[str]) -> ConfigError:
    """A :class:`ConfigError` of ``problems`` (lines, or one text of lines)
    found in the file ``path``: one line per problem, each naming the file
    and then the key (``campaign.yaml: loops: must be ≥ 0``), so that each
    prints as one ``error:`` line."""
    lines = problems.splitlines() if isinstance(problems, str) else problems
    return ConfigError("\n".join(f"{path}: {line}" for line in lines))


def load_with(path: str | Path, parse: Callable[[Any], Any]) -> Any:
    """``parse`` of a YAML file's data; every problem prefixed by the file."""
    data = read_file(path)
    try:
        return parse(data)
    except ConfigError as exc:
        raise in_file(path, str(exc)) from None


def can_create_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` — tried, not inferred from
    permission bits (root passes those everywhere, /proc refuses anyway)."""

    if not os.access(folder, os.W_OK):
        return False
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".hyperal-probe-"):
            return True
    except OSError:
        return False


def element_problems(elements: list[str]) -> list[str]:
    """``system.elements`` entries that are no element or given twice."""

    problems = []
    for k, symbol in enumerate(elements):
        if symbol not in chemical_symbols[1:]:
            problems.append(f"system.elements[{k}]: {symbol!r} is not an element")
        elif symbol in elements[:k]:
            problems.append(f"system.elements[{k}]: {symbol} given twice")
    return problems


#: A key only one kind of hyperal file has, the kind, and its command.
FILE_KINDS = (
    ("campaign", "a benchmark file", "hyperal benchmark <file>"),
    ("hops", "a barrier campaign file", "hyperal barriers run <file>"),
    ("strata", "a test-set recipe", "hyperal testset <file> -o <set>.extxyz"),
    ("counts", "a campaign file", "hyperal run <file>"),
)


def file_mapping(data: Any, kind: str) -> dict:
    """``data`` (a YAML file's) as the mapping of keys a ``kind`` file is
    (a kind of :data:`FILE_KINDS`), or a :class:`ConfigError`: not a
    mapping, or another kind of hyperal file (one line naming the command
    that reads it)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{kind} must be a YAML mapping of keys")
    hint = other_kind(data, kind)
    if hint:
        raise ConfigError(hint)
    return data


def other_kind(data: Any, expected: str) -> str | None:
    """One line naming the command that reads ``data`` when it is another
    kind of hyperal file than ``expected`` (a kind of :data:`FILE_KINDS`),
    else None."""
    if not isinstance(data, dict):
        return None
    for key, kind, command in FILE_KINDS:
        if key in data and kind != expected:
            return (
                f"(top level): this is {kind} (it has `{key}`), not {expected}; "
                f"`{command}` reads it"
            )
    return None
