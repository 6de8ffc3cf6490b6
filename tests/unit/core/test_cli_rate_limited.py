"""The CLI waits out a 429 (the application's per-second limit, SPEC 4) for its Retry-After and asks
again, for every method: a rate-limited request was refused before it ran. After
RATE_LIMITED_RETRIES it shows the API's error; other errors, 503 included, are never asked again.

The API here is a loopback server that answers from a script, counting what it was asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3.util.retry

from countersign_dev.admin_api import MAX_RETRY_AFTER_SECONDS, RATE_LIMITED_RETRIES
from countersign_dev.cli import main

TOKEN = "csa_" + "t" * 43
RATE_LIMITED = (429, {"error": {"code": "rate_limited", "message": "Over this second's limit."}})
KEYS = (200, {"activeKeys": [], "revokedKeys": [], "maxActiveKeys": 5})
CREATED = (201, {"keyName": "key_0123456789ab", "createdAt": "2026-12-06T12:00:00Z", "description": "ci"})
UNAVAILABLE = (503, {"error": {"code": "service_unavailable", "message": "Try again later."}})


@dataclass
class ScriptedApi:
    """Answers requests in order from `script`; `asked` records (method, path) of each request."""

    script: list[tuple[int, dict[str, object]]] = field(default_factory=list)
    asked: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    retry_after: str = "1"  # what the API says with a 429 or a 503
    waits: list[float] = field(default_factory=list)  # what the client slept between asks


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedApi]:
    monkeypatch.setenv("COUNTERSIGN_ADMIN_TOKEN", TOKEN)
    scripted = ScriptedApi()
    # urllib3's waits are recorded, not slept: the tests say how long, and stay fast.
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", scripted.waits.append)

    class Answer(BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            scripted.asked.append((self.command, self.path))
            status, body = scripted.script.pop(0)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status in (429, 503):  # as the API answers both
                self.send_header("Retry-After", scripted.retry_after)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self.answer()

        def do_POST(self) -> None:
            self.answer()

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scripted.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield scripted
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_rate_limited_read_is_asked_again_and_answered(api: ScriptedApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.script = [RATE_LIMITED, RATE_LIMITED, KEYS]
    assert main(["keys", "list", "--api", api.url, "--app", "app_x", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == KEYS[1]
    assert api.asked == [("GET", "/v1/apps/app_x/keys")] * 3
    assert api.waits == [1, 1]  # each answer's Retry-After


def test_a_long_retry_after_is_waited_at_most_the_cap(api: ScriptedApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.script, api.retry_after = [RATE_LIMITED, KEYS], "3600"
    assert main(["keys", "list", "--api", api.url, "--app", "app_x", "--json"]) == 0
    assert api.waits == [MAX_RETRY_AFTER_SECONDS]


def test_a_rate_limited_write_is_asked_again_once_it_may_run(
    api: ScriptedApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.script = [RATE_LIMITED, CREATED]
    assert main(["keys", "create", "--description", "ci", "--api", api.url, "--app", "app_x", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["keyName"] == CREATED[1]["keyName"]
    assert api.asked == [("POST", "/v1/apps/app_x/keys")] * 2


def test_after_its_retries_the_cli_shows_the_apis_429_in_one_line(
    api: ScriptedApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.script = [RATE_LIMITED] * (RATE_LIMITED_RETRIES + 1)
    assert main(["keys", "list", "--api", api.url, "--app", "app_x"]) != 0
    err = capsys.readouterr().err
    assert "(rate_limited, HTTP 429)" in err and err.count("\n") == 1, err
    assert len(api.asked) == RATE_LIMITED_RETRIES + 1 and api.script == []


def test_a_503_is_shown_at_once_never_asked_again(api: ScriptedApi, capsys: pytest.CaptureFixture[str]) -> None:
    """A 503 may come after a write happened (a generated key): asking again is the admin's call."""
    api.script = [UNAVAILABLE, CREATED]
    assert main(["keys", "create", "--description", "ci", "--api", api.url, "--app", "app_x"]) != 0
    assert "(service_unavailable, HTTP 503)" in capsys.readouterr().err
    assert api.asked == [("POST", "/v1/apps/app_x/keys")]
