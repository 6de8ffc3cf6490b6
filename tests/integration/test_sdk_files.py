"""The SDK's files over HTTP on the local stack (issue 25): HEAD answers 200 with the GET headers and
no body, and a wrong method is a 405 that says which methods the path allows."""

from __future__ import annotations

import pytest
import requests

from tests.support.local import LocalApi


@pytest.mark.parametrize("name", ["countersign.js", "countersign.iife.js", "countersign.d.ts"])
def test_head_on_an_sdk_file_answers_200_with_its_headers(local: LocalApi, name: str) -> None:
    got = requests.get(f"{local.url}/sdk/{name}", timeout=30)
    head = requests.head(f"{local.url}/sdk/{name}", timeout=30)
    assert (got.status_code, head.status_code, head.content) == (200, 200, b"")
    for header in ("Content-Type", "ETag", "Cache-Control", "Access-Control-Allow-Origin", "Link"):
        assert head.headers[header] == got.headers[header], header


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/sdk/countersign.iife.js", "GET, HEAD"),
        ("PUT", "/console", "GET, HEAD"),
        ("DELETE", "/v1/apps/app_0123456789abcdef/events", "OPTIONS, POST"),
    ],
)
def test_a_wrong_method_is_405_with_allow(local: LocalApi, method: str, path: str, allow: str) -> None:
    reply = local.call(method, path)
    assert reply.status == 405, reply.body
    assert reply.body["error"]["code"] == "method_not_allowed"
    assert reply.headers["Allow"] == allow
