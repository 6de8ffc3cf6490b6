"""The API's routes as tests need them, read from what declares them instead of kept by hand:
template.yaml's Api events (the routes API Gateway has) and the OpenAPI document generated from
the functions' routes (docs/openapi.json, which tests/integration/test_openapi_document.py holds
equal to what the running API serves). Adding a route adds it to every list below."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from countersign_dev.emulation import template as tpl

ROOT = Path(__file__).resolve().parents[2]
#: Every application route's path starts here; the lists below give the rest (the "suffix").
APP_PREFIX = "/v1/apps/{appId}"


@cache
def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    return {
        (method.upper(), path): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if path.startswith(APP_PREFIX)
    }


def app_routes() -> list[tuple[str, str]]:
    """(method, suffix) of every application route template.yaml declares (not the ANY catch-alls),
    in the template's order."""
    return [
        (route.method, route.resource.removeprefix(APP_PREFIX))
        for route in tpl.routes(tpl.load_template())
        if route.method != "ANY" and route.resource.startswith(APP_PREFIX)
    ]


def admin_routes() -> list[tuple[str, str]]:
    """The application routes that take the admin token (their operation's security says so)."""
    return [
        route
        for route in app_routes()
        if _operations()[(route[0], APP_PREFIX + route[1])]["security"] == [{"adminToken": []}]
    ]


def body_routes() -> set[tuple[str, str]]:
    """The application routes that require a JSON body (a route whose body is optional ignores junk)."""
    return {
        route
        for route in app_routes()
        if _operations()[(route[0], APP_PREFIX + route[1])].get("requestBody", {}).get("required", False)
    }
