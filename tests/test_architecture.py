"""The shape of the package, checked: the run kernel stands below the three
workflows, no module imports another's private names, no two modules import
each other, and the run preamble (the store's lock) is written once."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "hyperal"
WORKFLOWS = ("campaign", "benchmark", "barriers", "report", "cli")


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield path, name, ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []


def test_no_module_imports_another_modules_private_names():
    """A name with a leading underscore is its module's own: what another
    module needs is public, with a docstring."""
    found = [
        f"{path.relative_to(SRC)}:{line}: {module}.{name}"
        for path, me, tree in _modules()
        for line, module, names in _imports(tree)
        if module.startswith("hyperal")
        for name in names
        if name.startswith("_") and module != me
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

    from hyperal.barriers.records import HopWhere
    from hyperal.runs.query import Where

    with pytest.raises(ValueError):
        Where(stage="selectd")  # not a stage: an error, not an empty answer
    with pytest.raises(ValueError, match="not a row key"):
        Where(has="serch_calls")
    with pytest.raises(ValueError, match="not a row key"):
        Where(has="triage")  # the barrier workflow's key: its HopWhere selects it
    with pytest.raises(TypeError):
        Where(oracle_status="ok")  # the field is `status`
    query, pairs = HopWhere(
        run="main", max_loop=2, stage="hop", has="triage", point="saddle"
    ).selection()
    assert query == "loop<=2,triage"
    assert pairs == {"run": "main", "stage": "hop", "point": "saddle"}


def test_the_kernel_names_no_workflow_vocabulary():
    """The kernel's stages and splits are those every loop writes; a
    workflow's own (hops, oracle trajectories) are declared in its module."""
    from hyperal.runs.records import SPLITS, STAGES, Split, Stage

    assert {s.value for s in Stage} == {
        "initial",
        "start",
        "selected",
        "metrics",
        "final",
    }
    assert {s.value for s in Split} == {"train", "gentle", "difficult", "none"}
    kernel = "\n".join(
        path.read_text(encoding="utf-8")
        for path, name, _ in _modules()
        if name.startswith("hyperal.runs")
    )
    for word in ("hop", "barrier", "trajectory", "withheld", "proximal"):
        assert f'"{word}"' not in kernel, word
    # declared by the workflows that own them, once imported
    from hyperal.barriers.records import BarrierSplit, BarrierStage
    from hyperal.benchmark.trajectories import TrajectorySplit, TrajectoryStage

    assert STAGES["hop"] is BarrierStage.HOP
    assert STAGES["trajectory"] is TrajectoryStage.TRAJECTORY
    assert SPLITS["proximal"] is BarrierSplit.PROXIMAL
    assert SPLITS["withheld"] is TrajectorySplit.WITHHELD


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


def _import_graph() -> dict[str, set[str]]:
    """Module -> the hyperal modules it imports anywhere (at the top, inside
    a function, under TYPE_CHECKING): a circle closed by a lazy import is
    still a circle."""
    modules = {name: tree for _, name, tree in _modules()}
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        targets = set()
        for _, module, names in _imports(tree):
            targets |= {module} | {f"{module}.{n}" for n in names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return circles


def test_no_import_circles():
    """Definitions live where they belong, not where a lazy import reaches
    them: no two modules import each other, however indirectly."""
    assert _circles(_import_graph()) == []


def test_the_circle_check_sees_a_lazy_import(tmp_path, monkeypatch):
    """The check above can fail: two modules importing each other, one of
    them inside a function, make a circle; a third that only imports one of
    them is outside it."""
    package = tmp_path / "hyperal"
    package.mkdir()
    (package / "a.py").write_text("from hyperal.b import g\n")
    (package / "b.py").write_text("def g():\n    from hyperal.a import x\n")
    (package / "c.py").write_text("import hyperal.a\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", package)
    assert _circles(_import_graph()) == [["hyperal.a", "hyperal.b"]]


def test_imports_inside_functions_only_keep_a_load_lazy_and_say_why():
    """Every import stands at the top of its module, except one that keeps
    an optional dependency optional or a slow one out of ``import hyperal``
    — and that one says so in the comment above it (or sits in a ``try``
    that handles its absence). No hyperal module is imported lazily: the
    import graph has no circle that would need it."""
    found = []
    for path, _, tree in _modules():
        lines = path.read_text(encoding="utf-8").splitlines()
        guarded = {
            id(node)
            for t in ast.walk(tree)
            if isinstance(t, ast.Try)
            for b in [*t.body, *t.handlers]
            for node in ast.walk(b)
        }
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                where = f"{path.relative_to(SRC)}:{node.lineno}"
                module = getattr(node, "module", None) or node.names[0].name
                if module.startswith("hyperal"):
                    found.append(f"{where}: {module} imported inside a function")
                    continue
                k = node.lineno - 2  # the line above, past the block's imports
                while k >= 0 and lines[k].strip().startswith(("import ", "from ")):
                    k -= 1
                if id(node) not in guarded and not lines[k].strip().startswith("#"):
                    found.append(f"{where}: {module} imported lazily without a reason")
    assert found == []
