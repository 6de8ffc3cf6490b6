"""The local stack as integration tests use it: `countersign local --port 0` in a subprocess,
talked to over HTTP on 127.0.0.1, stopped (Ctrl-C) by the test that started it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from countersign_dev.admin_api import api_session

REPO_ROOT = Path(__file__).resolve().parents[2]
COUNTERSIGN = Path(sys.executable).with_name("countersign")


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None


def error_shape_problem(status: int, body: Any) -> str | None:
    """What is wrong with a 4xx/5xx answer against SPEC 3's error shape, or None.

    `{"error": {"code", "message"}}` (plus `detail` for JWKS URI errors), a code of the one table
    (countersign.errors.ERRORS) whose status is the one answered, and a non-empty message.
    """
    from countersign.errors import ERRORS

    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"not {{'error': {{...}}}}: {body!r:.300}"
    error = body["error"]
    if not {"code", "message"} <= set(error) <= {"code", "message", "detail"}:
        return f"error members {sorted(error)}"
    if error["code"] not in ERRORS or ERRORS[error["code"]][0] != status:
        return f"code {error['code']!r} with status {status}"
    if not isinstance(error["message"], str) or not error["message"]:
        return "empty message"
    return None


@dataclass
class LocalApi:
    """A running local stack: its coordinates (local.json) and a tiny HTTP client."""

    state: dict[str, Any]
    state_dir: Path
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return str(self.state["apiUrl"])

    @property
    def demo_app(self) -> dict[str, str]:
        return dict(self.state["demoApp"])

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        retry_rate_limited: bool = True,
    ) -> Reply:
        """One request, answered. Like the CLI (the same session) and the SDK, it waits out a 429
        for its Retry-After and asks again: tests share an application across many fast admin
        calls, and a busy second must not turn a check of one answer into a check of the rate
        limiter. Tests of the limiter pass `retry_rate_limited=False` and see every 429."""
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        with api_session() if retry_rate_limited else requests.Session() as http:
            response = http.request(
                method, self.url + path, json=json_body, data=data, headers=all_headers, params=params, timeout=30
            )
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        return Reply(response.status_code, body, response.headers)

    def aws_client(self, service: str) -> Any:
        """A boto3 client of the stack's moto server (what the functions read and write)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.state["awsEndpointUrl"],
            region_name=self.state["region"],
            aws_access_key_id="countersign-local",
            aws_secret_access_key="countersign-local",
        )

    @property
    def log_path(self) -> Path:
        """The stack's stdout and stderr (its functions' log lines, tracebacks)."""
        return self.state_dir / "local.log"

    def log_mark(self) -> int:
        """Where the log ends now: pass it to `log_since` to read what a test made the stack write."""
        return self.log_path.stat().st_size

    def log_since(self, mark: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(mark)
            return log.read().decode("utf-8", "replace")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the `countersign` CLI against this stack's state dir."""
        result = subprocess.run(
            [str(COUNTERSIGN), *args], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"countersign {' '.join(args)} failed: {result.stderr}")
        return result

    def create_app(self, name: str = "Test app") -> dict[str, str]:
        out = self.cli("apps", "create", "--name", name, "--local", "--state-dir", str(self.state_dir))
        return dict(json.loads(out.stdout))


@contextmanager
def running_local_stack(state_dir: Path, *extra_args: str, env: dict[str, str] | None = None) -> Iterator[LocalApi]:
    """Start `countersign local` on free loopback ports; stop it with SIGINT (Ctrl-C) afterwards."""
    state_file = state_dir / "local.json"
    state_dir.mkdir(parents=True, exist_ok=True)
    # A file, not a pipe: nobody reads the stack's logs while it runs, and a full pipe would block it.
    log = (state_dir / "local.log").open("w")
    process = subprocess.Popen(
        [str(COUNTERSIGN), "local", "--port", "0", "--state-dir", str(state_dir), "--quiet", *extra_args],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        # Unbuffered: tests read local.log while the stack runs (tracebacks, leaked secrets).
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        deadline = time.monotonic() + 60
        while not state_file.exists():
            if process.poll() is not None:
                raise RuntimeError(f"countersign local exited early:\n{(state_dir / 'local.log').read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError("countersign local did not become ready within 60 s")
            time.sleep(0.1)
        time.sleep(0.05)  # the file is written whole, but give the writer a beat to close it
        yield LocalApi(json.loads(state_file.read_text()), state_dir, process)
    finally:
        stop(process)
        log.close()


@dataclass
class JwksServe:
    """A running `countersign jwks-serve`: the URI it publishes and the CA bundle that trusts it."""

    uri: str
    ca_bundle: Path


@contextmanager
def running_jwks_serve(jwks_file: Path, state_dir: Path, *, cwd: Path | None = None) -> Iterator[JwksServe]:
    """`countersign jwks-serve` on a free loopback port (its CA under `state_dir`), stopped afterwards."""
    serve = subprocess.Popen(
        [str(COUNTERSIGN), "jwks-serve", "--jwks", str(jwks_file), "--port", "0", "--state-dir", str(state_dir)],
        cwd=cwd or REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (state_dir / "jwks-serve.json").exists():
            assert serve.poll() is None and time.monotonic() < deadline, "jwks-serve did not start"
            time.sleep(0.05)
        uri = json.loads((state_dir / "jwks-serve.json").read_text())["jwksUri"]
        yield JwksServe(uri, state_dir / "jwks-tls" / "ca.pem")
    finally:
        stop(serve)


def stop(process: subprocess.Popen[str]) -> int:
    """Ctrl-C, as a developer would; kill only if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return int(process.returncode)


#: The settings/keys cache bound of the local stack (template parameter CacheTtlSeconds, default 5 s)
#: plus slack for a busy machine: what "within the cache bound" may take in a test.
CACHE_BOUND_SECONDS = 5 + 3


def until_answer(send: Callable[[], Reply], status: int, *, within: float = CACHE_BOUND_SECONDS) -> tuple[Reply, float]:
    """Send until the answer has `status` (polling every 0.2 s); the reply and the seconds it took.

    Fails when `within` seconds pass first: this is how tests measure the cache bound.
    """
    started = time.monotonic()
    while True:
        reply = send()
        took = time.monotonic() - started
        if reply.status == status:
            return reply, took
        assert took < within, f"still {reply.status} after {took:.1f} s (expected {status} within {within} s)"
        time.sleep(0.2)


def raw_http(url: str, request: bytes, *, timeout: float = 10) -> tuple[int, dict[str, str], Any]:
    """Send raw bytes to the server at `url` and read one answer: (status, headers, JSON or text).

    For requests an HTTP client library would refuse to send (bad framing, huge headers).
    """
    import http.client
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        raw = response.read()
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return response.status, {name.lower(): value for name, value in response.getheaders()}, body
