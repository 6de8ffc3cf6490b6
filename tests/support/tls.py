"""Real TLS for tests: a throw-away CA, a server certificate it signs, and an HTTPS server on loopback.

Typical use (the server binds 127.0.0.1 only and stops when the block ends)::

    pki = make_test_pki(tmp_path)
    with serve_https(pki, Reply.json({"keys": [...]})) as server:
        body = fetch(server.url("/jwks.json"), AddressPolicy(True, ca_bundle=str(pki.ca_cert)))
        assert server.request_count == 1

`Reply` describes one canned answer (status, headers, body, optional slow drip); pass a callable
instead to answer per request path. Keys are EC P-256, so making a PKI takes milliseconds.
"""

from __future__ import annotations

import datetime
import http.server
import json
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from countersign_dev.devtools.jwks_serve import TlsFiles, write_tls_files


@dataclass(frozen=True)
class TestPki:
    """PEM files of a test CA and of one server certificate it issued."""

    __test__ = False  # not a pytest test class, whatever its name

    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_test_pki(
    directory: Path,
    *,
    hostnames: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1", "::1"),
) -> TestPki:
    """Write a CA certificate and a server certificate/key for `hostnames` and `ip_addresses`.

    The certificates come from the same code as `countersign jwks-serve`'s throw-away CA.
    """
    pki = TestPki(
        ca_cert=directory / "ca.pem", server_cert=directory / "server.pem", server_key=directory / "server-key.pem"
    )
    write_tls_files(
        TlsFiles(pki.ca_cert, pki.server_cert, pki.server_key),
        hostnames=hostnames,
        addresses=ip_addresses,
        validity=datetime.timedelta(days=1),
        ca_common_name="Countersign test CA",
    )
    return pki


@dataclass(frozen=True)
class Reply:
    """One canned HTTP answer.

    `drip_seconds` sends the body one byte at a time with that pause in between (after the
    headers, which announce the full Content-Length); `drip_headers` drips the status line and
    headers too. Both model a slow-drip server that must not hold a client past its deadline.
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    drip_seconds: float | None = None
    drip_headers: bool = False
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes

    @classmethod
    def json(cls, document: Any, status: int = 200) -> Reply:
        """A JSON answer with Content-Type application/json."""
        headers = {"Content-Type": "application/json"}
        return cls(status=status, body=json.dumps(document).encode(), headers=headers)


Responder = Reply | Callable[[str], Reply]


class HttpsServer:
    """A running test server: where it listens and what it has seen."""

    def __init__(self, port: int, stop: threading.Event) -> None:
        self.port = port
        self._stop = stop
        self._lock = threading.Lock()
        self._paths: list[str] = []
        self._headers: list[dict[str, str]] = []

    def url(self, path: str = "/jwks.json", host: str = "127.0.0.1") -> str:
        """The https URL of `path` on this server, with `host` as the URL's host."""
        return f"https://{host}:{self.port}{path}"

    @property
    def request_count(self) -> int:
        """How many HTTP requests reached a handler (TLS handshakes that failed do not count)."""
        with self._lock:
            return len(self._paths)

    @property
    def paths(self) -> list[str]:
        """The request targets, in arrival order."""
        with self._lock:
            return list(self._paths)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """The request headers (names lower-cased), in arrival order."""
        with self._lock:
            return [dict(headers) for headers in self._headers]

    def _record(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self._paths.append(path)
            self._headers.append(headers)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()


@contextmanager
def serve_https(pki: TestPki, responder: Responder) -> Iterator[HttpsServer]:
    """Serve `responder` over HTTPS on 127.0.0.1 (a free port) in a thread, until the block ends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    stop = threading.Event()
    httpd = _TlsHttpServer(("127.0.0.1", 0), _Handler, context)
    server = HttpsServer(httpd.server_address[1], stop)
    httpd.countersign_server = server
    httpd.responder = responder
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()  # ends any slow drip in progress
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed), for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class _TlsHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    countersign_server: HttpsServer
    responder: Responder

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[http.server.BaseHTTPRequestHandler],
        context: ssl.SSLContext,
    ) -> None:
        self._tls = context
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN (a DNS query); a test server needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        # The handshake runs in the handler thread, so a client that never completes it
        # cannot stall the accept loop.
        return self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that reject the certificate or hang up mid-drip are what the tests are about.
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _TlsHttpServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        state = self.server.countersign_server
        state._record(self.path, {name.lower(): value for name, value in self.headers.items()})
        responder = self.server.responder
        reply = responder if isinstance(responder, Reply) else responder(self.path)
        head = [f"HTTP/1.1 {reply.status} {_reason(reply.status)}\r\n"]
        head += [f"{name}: {value}\r\n" for name, value in reply.headers.items()]
        if reply.send_length:
            head.append(f"Content-Length: {len(reply.body)}\r\n")
        head += ["Connection: close\r\n", "\r\n"]
        self.close_connection = True
        head_bytes = "".join(head).encode("latin-1")
        pause = reply.drip_seconds
        if pause is None:
            self.wfile.write(head_bytes + reply.body)
            return
        if reply.drip_headers:
            self._drip(head_bytes, pause, state)
        else:
            self.wfile.write(head_bytes)
        self._drip(reply.body, pause, state)

    def _drip(self, data: bytes, pause: float, state: HttpsServer) -> None:
        for index in range(len(data)):
            if state.stopping:
                return
            try:
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
            except OSError:
                return  # the client gave up, as it should
            time.sleep(pause)

    def log_message(self, fmt: str, *args: Any) -> None:
        return None  # keep test output clean


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
