"""docs/openapi.json is what the code serves: `make openapi` writes it, this test fails on drift."""

from __future__ import annotations

import json

from countersign_dev import template as tpl
from countersign_dev.openapi import DOCUMENT_PATH, text
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
