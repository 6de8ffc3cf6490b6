"""docs/openapi.json is what the code serves: `make openapi` writes it, this test fails on drift."""

from __future__ import annotations

import json

from countersign import coverage, reporting
from countersign_dev.devtools.openapi import DOCUMENT_PATH, text
from countersign_dev.emulation import template as tpl
from tests.support.local import REPO_ROOT, LocalApi


def test_docs_openapi_json_is_what_the_running_api_serves(local: LocalApi) -> None:
    served = local.call("GET", "/openapi.json").body
    assert served["servers"] == [{"url": local.url}]
    del served["servers"]
    written = (REPO_ROOT / DOCUMENT_PATH).read_text()
    assert json.loads(written) == served, "docs/openapi.json is stale: run `make openapi` and commit it"
    assert written == text(served), "docs/openapi.json is not in `make openapi`'s format: run it"


def test_every_route_documents_429_with_retry_after() -> None:
    document = json.loads((REPO_ROOT / DOCUMENT_PATH).read_text())
    operations = [op for path in document["paths"].values() for op in path.values()]
    # The API's routes (static files of the web function are not API operations).
    declared = [r for r in tpl.routes(tpl.load_template()) if r.method != "ANY" and r.resource.startswith("/v1/")]
    assert len(operations) == len(declared)
    for operation in operations:
        assert "Retry-After" in operation["responses"]["429"]["description"]


def test_query_parameters_are_documented_with_the_bounds_the_code_enforces() -> None:
    document = json.loads((REPO_ROOT / DOCUMENT_PATH).read_text())

    def query(path: str) -> dict[str, dict[str, object]]:
        parameters = document["paths"][f"/v1/apps/{{appId}}{path}"]["get"]["parameters"]
        return {p["name"]: p["schema"] for p in parameters if p["in"] == "query"}

    assert query("/raw-events") == {
        "limit": {"type": "integer", "minimum": 1, "maximum": reporting.MAX_RAW_EVENTS},
        "visitorId": {"type": "string", "minLength": 1, "maxLength": reporting.MAX_VISITOR_ID_CHARS},
        "cursor": {"type": "string", "minLength": 1, "maxLength": reporting.MAX_CURSOR_CHARS},
    }
    assert query("/coverage") == {"hours": {"type": "integer", "minimum": 1, "maximum": coverage.MAX_HOURS}}
    assert "x-countersign-query" not in json.dumps(document)  # folded into each operation's parameters
