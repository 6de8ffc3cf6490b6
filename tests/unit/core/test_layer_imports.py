"""Data flows one way: no module of the layer imports the HTTP layer (`countersign.api`), and the
data layer imports no verification module (tokens, verify, claims, ingest, ...)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "layers" / "verification" / "countersign"
MODULES = sorted(path for path in PACKAGE.rglob("*.py") if path.name != "__init__.py")
# What the store may import from the package: plumbing and the plain values it stores.
STORE_MAY_IMPORT = {
    "ascii_escape", "aws", "clock", "config", "container", "errors", "lake", "policy", "settings", "store",
}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", [p for p in MODULES if p.name != "api.py"], ids=lambda p: p.stem)
def test_no_module_imports_the_http_layer(path: Path) -> None:
    assert "countersign.api" not in imported_modules(path)


@pytest.mark.parametrize("path", sorted((PACKAGE / "store").glob("*.py")), ids=lambda p: p.stem)
def test_the_store_depends_on_no_verification_module(path: Path) -> None:
    ours = {name.split(".")[1] for name in imported_modules(path) if name.startswith("countersign.")}
    assert ours <= STORE_MAY_IMPORT, ours - STORE_MAY_IMPORT
