"""Every functions/*/app.py is the Powertools idiom: a resolver with its body limit, routes, and a
lambda_handler that is only the decorators and `return app.resolve(event, context)`. A function
fed by a stream (export) or a schedule (tables) has no resolver: its handler is the decorators and
one call of its module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ALL_FUNCTIONS = sorted((Path(__file__).resolve().parents[3] / "functions").glob("*/app.py"))
STREAM_FUNCTIONS = {
    "export": "return export.deliver(event.get('Records') or [], lake_objects())",
    "tables": "return tasks.run(str(event.get('task', '')), context.get_remaining_time_in_millis)",
    # scheduled too: each handler is one call of its module
    "reconcile": "return completeness.publish_reconcile()",
    "erasure": "return erasure_run.run_queue(context.get_remaining_time_in_millis).to_json()",
}
FUNCTIONS = [path for path in ALL_FUNCTIONS if path.parent.name not in STREAM_FUNCTIONS]
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


@pytest.mark.parametrize("name", sorted(STREAM_FUNCTIONS))
def test_a_stream_handler_is_the_decorators_and_one_call(name: str) -> None:
    (path,) = [path for path in ALL_FUNCTIONS if path.parent.name == name]
    handler = module_named(ast.parse(path.read_text()), "lambda_handler")
    assert isinstance(handler, ast.FunctionDef)
    decorators = {ast.unparse(d.func if isinstance(d, ast.Call) else d).split(".")[-1] for d in handler.decorator_list}
    assert decorators == DECORATORS
    assert [ast.unparse(statement) for statement in handler.body] == [STREAM_FUNCTIONS[name]]


def test_every_function_is_checked() -> None:
    assert [path.parent.name for path in FUNCTIONS] == [
        "ingest",
        "jwks",
        "keys",
        "privacy",
        "reporting",
        "settings",
        "web",
    ]
    assert [path.parent.name for path in ALL_FUNCTIONS if path not in FUNCTIONS] == [
        "erasure",
        "export",
        "reconcile",
        "tables",
    ]
