"""The shape of the package, checked: the run kernel stands below the three
workflows, no package imports another's private names, and the run
preamble (the store's lock) is written once."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "hyperal"
WORKFLOWS = ("campaign", "benchmark", "barriers", "report", "cli")


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield path, name, ast.parse(path.read_text(encoding="utf-8"))


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []


def test_no_package_imports_another_packages_private_names():
    found = [
        f"{path.relative_to(SRC)}:{line}: {module}.{name}"
        for path, me, tree in _modules()
        for line, module, names in _imports(tree)
        if module.startswith("hyperal")
        for name in names
        if name.startswith("_") and _package(module) != _package(me)
    ]
    assert found == []


def test_the_run_kernel_imports_no_workflow():
    found = [
        f"{path.relative_to(SRC)}:{line}: {module}"
        for path, me, tree in _modules()
        if me.startswith("hyperal.runs")
        for line, module, _ in _imports(tree)
        if any(module.startswith(f"hyperal.{w}") for w in WORKFLOWS)
    ]
    assert found == []


def test_only_the_runner_takes_the_store_lock():
    """One preamble: every workflow opens its run through
    ``hyperal.runs.runner.open_run``."""
    found = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path, _, tree in _modules()
        if path.relative_to(SRC).as_posix() != "runs/runner.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "lock"
    ]
    assert found == []


def test_only_the_store_reaches_into_its_database():
    """The ase.db behind a store is the store's: other modules ask it
    (rows, first, update, ...), none holds ``store.db``."""
    found = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path, _, tree in _modules()
        if path.relative_to(SRC).as_posix() != "runs/store.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "db"
        and isinstance(node.value, ast.Attribute | ast.Name)
        and (getattr(node.value, "attr", None) or getattr(node.value, "id", None))
        in ("store", "self.store")
    ]
    assert found == []


def test_rows_are_asked_for_by_a_typed_selection_only():
    """Outside the store, rows are selected with a ``Where`` (typed keys,
    enum values), never with ase.db query strings or key-value pairs, which
    select nothing, silently, when a key is misspelt."""
    asked = ("rows", "count", "first", "names", "oracle_calls")
    found = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path, _, tree in _modules()
        if path.name != "store.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in asked
        and ast.unparse(node.func.value).endswith(("store", "opened"))
        and (
            node.keywords
            or any(isinstance(a, (ast.Constant, ast.JoinedStr)) for a in node.args)
        )
    ]
    assert not found, found


def test_a_selection_refuses_what_it_cannot_mean():
    import pytest

    from hyperal.runs.query import Where

    with pytest.raises(ValueError):
        Where(stage="selectd")  # not a stage: an error, not an empty answer
    with pytest.raises(ValueError, match="not a row key"):
        Where(has="serch_calls")
    with pytest.raises(TypeError):
        Where(oracle_status="ok")  # the field is `status`
    query, pairs = Where(
        run="main", max_loop=2, stage="selected", has="triage"
    ).selection()
    assert query == "loop<=2,triage"
    assert pairs == {"run": "main", "stage": "selected"}


def test_modules_and_functions_stay_small():
    """No module over 500 lines, no function over 100 (docstring included):
    a longer one does several jobs and gets split along them."""
    long_modules = [
        f"{path.relative_to(SRC)}: {n} lines"
        for path, _, _ in _modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500
    ]
    long_functions = [
        f"{path.relative_to(SRC)}:{node.lineno} {node.name}: {n} lines"
        for path, _, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (n := node.end_lineno - node.lineno + 1) > 100
    ]
    assert not long_modules, long_modules
    assert not long_functions, long_functions


def test_no_module_reaches_into_the_store_by_private_name():
    """``store._anything`` outside the store: a workflow leaning on the
    store's insides instead of its methods."""
    found = [
        f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}"
        for path, _, tree in _modules()
        if path.relative_to(SRC).as_posix() != "runs/store.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and ast.unparse(node.value).endswith("store")
    ]
    assert found == []
