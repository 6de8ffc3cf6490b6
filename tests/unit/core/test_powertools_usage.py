"""Issue 22 item 5: every log line of the functions goes through the Powertools logger (JSON with
the invocation's keys), and nothing reads Powertools' private attributes outside one wrapper."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(
    [*(ROOT / "layers" / "verification" / "countersign").rglob("*.py"), *(ROOT / "functions").glob("*/app.py")]
)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_shipped_module_logs_with_the_standard_library_logger(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "logging" not in imported, "log through aws_lambda_powertools.Logger (child=True), not logging"
