"""Every functions/*/app.py is the Powertools idiom: a resolver with its body limit, routes, and a
lambda_handler that is only the decorators and `return app.resolve(event, context)`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FUNCTIONS = sorted((Path(__file__).resolve().parents[3] / "functions").glob("*/app.py"))
DECORATORS = {"inject_lambda_context", "log_metrics"}


def module_named(tree: ast.Module, name: str) -> ast.AST:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    raise AssertionError(f"no top-level {name}")


@pytest.mark.parametrize("path", FUNCTIONS, ids=lambda path: path.parent.name)
def test_handler_is_the_decorators_and_app_resolve(path: Path) -> None:
    tree = ast.parse(path.read_text())
    app = module_named(tree, "app")
    assert isinstance(app, ast.Call) and ast.unparse(app.func) == "make_resolver"
    assert {keyword.arg for keyword in app.keywords} == {"admin", "max_body_bytes"}

    handler = module_named(tree, "lambda_handler")
    assert isinstance(handler, ast.FunctionDef)
    decorators = {ast.unparse(d.func if isinstance(d, ast.Call) else d).split(".")[-1] for d in handler.decorator_list}
    assert decorators == DECORATORS
    assert [ast.unparse(statement) for statement in handler.body] == ["return app.resolve(event, context)"]


def test_every_function_is_checked() -> None:
    assert [path.parent.name for path in FUNCTIONS] == ["ingest", "jwks", "keys", "reporting", "settings", "web"]
