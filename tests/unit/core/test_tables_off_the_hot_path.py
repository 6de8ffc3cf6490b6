"""The tables' libraries stay off the hot path (issue 23, item 6): no API or export function
imports pyiceberg or pyarrow, directly or through the layer; only the tables function does.

Checked on the import graph of the code itself (the functions' app.py and every layer module they
reach), so a new import anywhere on the way fails here before it costs a cold start.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LAYER = ROOT / "layers" / "verification"
HEAVY = ("pyiceberg", "pyarrow", "duckdb")
#: The erasure function deletes an erased subject's rows from the tables (SPEC 9) and the reconcile function reads
#: `events` (SPEC 6.3); both are scheduled, never on a request.
TABLES_FUNCTIONS = {"tables", "erasure", "reconcile"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _module_file(name: str) -> Path | None:
    base = LAYER / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def reachable(entry: Path) -> set[str]:
    """Every module name imported from `entry`, following our own layer's modules."""
    seen: set[str] = set()
    todo = [entry]
    visited: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in visited:
            continue
        visited.add(path)
        for name in _imports(path):
            seen.add(name)
            if name.startswith("countersign"):
                parts = name.split(".")
                for depth in range(1, len(parts) + 1):  # a package's __init__ runs on the way
                    found = _module_file(".".join(parts[:depth]))
                    if found is not None:
                        todo.append(found)
    return seen


FUNCTIONS = sorted(path for path in (ROOT / "functions").glob("*/app.py") if path.parent.name not in TABLES_FUNCTIONS)


@pytest.mark.parametrize("app", FUNCTIONS, ids=lambda path: path.parent.name)
def test_no_api_or_export_function_reaches_the_tables_libraries(app: Path) -> None:
    heavy = sorted(name for name in reachable(app) if name.split(".")[0] in HEAVY)
    assert heavy == []
    tables = sorted(name for name in reachable(app) if name.startswith("countersign.tables"))
    assert tables == []


def test_the_check_sees_an_import_through_the_layer(tmp_path: Path) -> None:
    # The graph walk is what the test above relies on: a function reaching pyiceberg through the
    # layer's table modules is caught.
    app = tmp_path / "app.py"
    app.write_text("from countersign.tables.fold import fold\n")
    assert {"pyiceberg.table", "pyarrow"} <= reachable(app)
