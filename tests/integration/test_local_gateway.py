"""The local stack's HTTP front end answers what API Gateway's edge would, in the SPEC error shape.

A request the front end cannot take (its framing, its size, its method) is never a dropped
connection, an HTML page or a traceback.
"""

from __future__ import annotations

import json

import pytest

from tests.support.local import LocalApi, error_shape_problem, raw_http


def settings_path(app: dict[str, str]) -> str:
    return f"/v1/apps/{app['appId']}/settings"


def head(method: str, path: str, *headers: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]).encode()


@pytest.mark.parametrize("digits", [4_301, 5_000, 9_000])
def test_a_content_length_of_thousands_of_digits_is_413(local: LocalApi, app: dict[str, str], digits: int) -> None:
    request = head("PATCH", settings_path(app), f"Content-Length: {'9' * digits}", "Connection: close")
    status, _, body = raw_http(local.url, request)
    assert (status, error_shape_problem(status, body)) == (413, None), body
    assert body["error"]["code"] == "payload_too_large"


def test_leading_zeros_are_still_the_declared_length(local: LocalApi, app: dict[str, str]) -> None:
    payload = json.dumps({"useSignedMetadata": True}).encode()
    length = "0" * 5_000 + str(len(payload))
    token = f"Authorization: Bearer {app['adminToken']}"
    request = head("PATCH", settings_path(app), token, f"Content-Length: {length}")
    status, _, body = raw_http(local.url, request + payload)
    assert status == 200, body
    assert body["useSignedMetadata"] is True


def test_a_chunked_body_is_read_whole(local: LocalApi, app: dict[str, str]) -> None:
    payload = json.dumps({"useSignedMetadata": True, "useRs256SignedMetadata": True}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:7], payload[7:20], payload[20:]))
    request = head(
        "PATCH",
        settings_path(app),
        f"Authorization: Bearer {app['adminToken']}",
        "Transfer-Encoding: chunked",
        "Content-Type: application/json",
    )
    status, _, body = raw_http(local.url, request + chunks + b"0\r\n\r\n")
    assert status == 200, body
    assert (body["useSignedMetadata"], body["useRs256SignedMetadata"]) == (True, True)
    assert local.call("GET", settings_path(app), token=app["adminToken"]).body["version"] == 2


@pytest.mark.parametrize(
    ("framing", "body"),
    [
        (["Transfer-Encoding: chunked"], b"zz\r\n{}\r\n0\r\n\r\n"),  # not hex
        (["Transfer-Encoding: chunked"], b"0x2\r\n{}\r\n0\r\n\r\n"),  # int(_, 16) would take it
        (["Transfer-Encoding: chunked"], b"2\r\n{}XX0\r\n\r\n"),  # no CRLF after the data
        (["Transfer-Encoding: chunked"], b"%s\r\n" % (b"f" * 5_000)),  # a size of 5,000 hex digits
        (["Transfer-Encoding: chunked", "Content-Length: 9"], b"2\r\n{}\r\n0\r\n\r\n"),  # both framings
        (["Transfer-Encoding: gzip"], b"{}"),
        (["Content-Length: 2", "Content-Length: 3"], b"{}"),
    ],
)
def test_malformed_framing_is_400_in_the_error_shape(
    local: LocalApi, app: dict[str, str], framing: list[str], body: bytes
) -> None:
    request = head("PATCH", settings_path(app), f"Authorization: Bearer {app['adminToken']}", *framing)
    status, headers, answer = raw_http(local.url, request + body)
    assert (status, error_shape_problem(status, answer)) == (400, None), answer
    assert answer["error"]["code"] == "invalid_request"
    assert headers["connection"] == "close"


def test_a_chunked_body_over_10_mb_is_413(local: LocalApi, app: dict[str, str]) -> None:
    request = head("POST", f"/v1/apps/{app['appId']}/events", "Transfer-Encoding: chunked")
    status, _, body = raw_http(local.url, request + b"%x\r\n" % (10 * 1024 * 1024 + 1))
    assert (status, error_shape_problem(status, body)) == (413, None), body


@pytest.mark.parametrize(
    "request_head",
    [
        head("GET", "/v1/apps/x/settings", "X-Padding: " + "p" * 10_300),  # API Gateway's 10,240 bytes
        head("GET", "/v1/apps/x/settings", *(f"X-H{i}: v" for i in range(120))),  # http.server's 100 headers
        head("GET", "/v1/apps/x/settings", "X-Long: " + "l" * 70_000),  # past http.server's line limit
        head("GET", "/v1/apps/" + "x" * 70_000 + "/settings"),  # a request line past it too
    ],
)
def test_a_request_head_over_the_limit_is_431_in_the_error_shape(local: LocalApi, request_head: bytes) -> None:
    status, _, body = raw_http(local.url, request_head)
    assert (status, error_shape_problem(status, body)) == (431, None), body
    assert body["error"]["code"] == "headers_too_large"


def test_a_method_no_route_has_is_the_gateways_404(local: LocalApi, app: dict[str, str]) -> None:
    for method in ("BREW", "PROPFIND", "TRACE"):
        status, _, body = raw_http(local.url, head(method, settings_path(app), "Connection: close"))
        assert (status, error_shape_problem(status, body)) == (404, None), (method, body)


@pytest.mark.parametrize(
    "request_line",
    [b"GARBAGE\r\n\r\n", b"GET /v1/apps HTTP/9.9\r\n\r\n", b"GET /v1/apps\r\n\r\n", b"GET / HTTP/1.1 extra\r\n\r\n"],
)
def test_a_malformed_request_line_is_400_with_a_status_line(local: LocalApi, request_line: bytes) -> None:
    status, _, body = raw_http(local.url, request_line)
    assert (status, error_shape_problem(status, body)) == (400, None), body
