"""The local stack's HTTP front end alone (no moto, no functions): framing, timeouts, filters.

A gateway filter that echoes what reached it stands where the functions would be, so each test
sees exactly the request the front end hands on.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from countersign_dev.emulation.local_stack import GatewayRequest, LocalOptions, LocalStack
from tests.support.local import raw_http

READ_TIMEOUT = 0.5


def echo(request: GatewayRequest) -> tuple[int, dict[str, list[str]], bytes]:
    body = {"method": request.method, "function": request.route.function, "body": request.body.decode()}
    return 200, {"Content-Type": ["application/json"]}, json.dumps(body).encode()


@pytest.fixture
def front_end(tmp_path: object) -> Iterator[tuple[LocalStack, str]]:
    stack = LocalStack(LocalOptions(port=0, quiet=True, read_timeout=READ_TIMEOUT))
    stack.gateway_filters.append(echo)
    url = stack.start_front_end()
    try:
        yield stack, url
    finally:
        stack.stop()


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed `sock` (reads nothing but the end of the stream)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    assert sock.recv(1024) == b""
    return time.monotonic() - started


def test_a_filter_sees_the_routed_request_and_answers_in_the_functions_place(
    front_end: tuple[LocalStack, str],
) -> None:
    _, url = front_end
    request = b"POST /v1/apps/app_1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    status, _, body = raw_http(url, request)
    assert (status, body) == (200, {"method": "POST", "function": "IngestFunction", "body": "{}"})


def test_a_chunked_body_reaches_the_route_whole_with_extensions_and_trailers(front_end: tuple[LocalStack, str]) -> None:
    _, url = front_end
    request = (
        b"PATCH /v1/apps/app_1/settings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3;name=value\r\nabc\r\n00002\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    assert raw_http(url, request)[2]["body"] == "abcde"


def test_a_silent_connection_is_closed_and_its_thread_released(front_end: tuple[LocalStack, str]) -> None:
    _, url = front_end
    before = threading.active_count()
    idle = [connect(url) for _ in range(20)]
    stalled = connect(url)  # headers sent, then the body never comes
    stalled.sendall(b"POST /v1/apps/app_1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}")
    try:
        for sock in [*idle, stalled]:
            assert closed_within(sock, READ_TIMEOUT + 5) < READ_TIMEOUT + 5
    finally:
        for sock in [*idle, stalled]:
            sock.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before


def test_a_keep_alive_connection_serves_several_requests_then_times_out(front_end: tuple[LocalStack, str]) -> None:
    _, url = front_end
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        for n in range(3):
            body = json.dumps({"n": n})
            connection.request("POST", "/v1/apps/a/events", body=body.encode())
            response = connection.getresponse()
            assert (response.status, json.loads(response.read())["body"]) == (200, body)
        assert connection.sock is not None  # one connection served all three
        assert closed_within(connection.sock, READ_TIMEOUT + 5) < READ_TIMEOUT + 5
    finally:
        connection.close()
