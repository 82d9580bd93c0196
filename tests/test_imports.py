"""The package's import graph: no cycles, and no function-level import without a reason."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "webriskops"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def top_level_imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Modules of the package imported when ``path`` is imported (function bodies aside)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def test_the_package_has_no_import_cycles():
    known = modules()
    graph = {name: top_level_imports(path, known) for name, path in known.items()}
    for name, targets in graph.items():
        # A package importing its own submodules (a blueprint's views) is not a cycle:
        # the submodule finds the package's names already defined.
        graph[name] = {t for t in targets if t != name and not t.startswith(name + ".")}

    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_job_infrastructure_imports_no_task_module():
    known = modules()
    for name in ("outbox", "queue", "runner", "worker", "registry", "background", "timeouts"):
        imported = top_level_imports(PACKAGE / "jobs" / f"{name}.py", known)
        assert not any(module.endswith(".tasks") for module in imported), name


def late_imports(source: str) -> list[tuple[int, bool]]:
    """Each function-level import's line, and whether a comment says why.

    The comment is on the import's own line or the line just above it; an import directly
    under another one (a block of them) shares that one's comment.
    """
    lines = source.splitlines()
    found: dict[int, tuple[int, int]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    found[inner.lineno] = (inner.lineno, inner.end_lineno or inner.lineno)
    ends = {end: start for start, end in found.values()}
    explained: dict[int, bool] = {}
    for start in sorted(found):
        above = lines[start - 2].strip() if start >= 2 else ""
        if "#" in lines[start - 1] or above.startswith("#"):
            explained[start] = True
        else:
            explained[start] = explained.get(ends.get(start - 1, -1), False)
    return sorted(explained.items())


def test_late_import_rule_needs_a_comment():
    source = """
def a():
    import json  # lazy: a reason
def b():
    # lazy: a reason for the block
    from os import (
        path,
    )
    import sys
def c():
    x = 1
    import json
"""
    assert late_imports(source) == [(3, True), (6, True), (9, True), (12, False)]


def test_late_imports_say_why():
    """No function-level import in the package without a comment saying why."""
    unexplained = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, explained in late_imports(path.read_text())
        if not explained
    ]
    assert unexplained == []
