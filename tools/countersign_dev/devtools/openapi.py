"""The API's OpenAPI document, built from every function's routes (`make openapi` writes it to
docs/openapi.json; the local stack serves it at /openapi.json with its own server URL).

Each route documents its body, answers and security (`countersign.openapi_schemas`); the admin
token's security scheme is declared once, here, for the whole document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

TITLE = "Countersign API"
DESCRIPTION = "Signed-metadata ingest for analytics sessions and events."
DOCUMENT_PATH = "docs/openapi.json"
#: The API's version is the package's (pyproject.toml): one number for the API, the CLI and the layer.
VERSION = "1.0.0"


def document(modules: Iterable[ModuleType]) -> dict[str, Any]:
    """One document for the whole API from the handler modules' resolvers (no `servers`)."""
    apps = (app for app in (getattr(module, "app", None) for module in modules) if app is not None)
    return merge(json.loads(app.get_openapi_json_schema(**schema_options())) for app in apps)


def schema_options() -> dict[str, Any]:
    """What each resolver's `get_openapi_json_schema` is given (the local stack's containers too)."""
    from countersign.openapi_schemas import SECURITY_SCHEMES

    return {"title": TITLE, "version": VERSION, "description": DESCRIPTION, "security_schemes": SECURITY_SCHEMES}


def merge(schemas: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The functions' documents as one: their paths and components together (no `servers`), each
    route's query parameters listed after its path parameters."""
    from countersign.openapi_schemas import QUERY_PARAMETERS_EXTENSION

    merged: dict[str, Any] = {}
    for schema in schemas:
        if not merged:
            merged = schema
            merged.setdefault("paths", {})
            continue
        for path, operations in schema.get("paths", {}).items():
            merged["paths"].setdefault(path, {}).update(operations)
        for kind, components in schema.get("components", {}).items():
            merged.setdefault("components", {}).setdefault(kind, {}).update(components)
    merged.pop("servers", None)
    for operations in merged["paths"].values():
        for operation in operations.values():
            if query := operation.pop(QUERY_PARAMETERS_EXTENSION, None):
                operation["parameters"] = [*operation.get("parameters", []), *query]
    return merged


def text(document: dict[str, Any]) -> str:
    """The file's exact text (`make openapi`; the drift test compares with it)."""
    return json.dumps(document, indent=2) + "\n"


def main() -> int:
    """Import every function of template.yaml as Lambda would and print the document."""
    from countersign_dev.emulation import template as tpl
    from countersign_dev.emulation.containers import import_handler_module

    modules = []
    for spec in tpl.functions(tpl.load_template()).values():
        literal_env = {key: value for key, value in spec.environment.items() if isinstance(value, str)}
        modules.append(import_handler_module(spec, literal_env))
    sys.stdout.write(text(document(modules)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
