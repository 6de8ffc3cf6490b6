"""RS256 with a JWKS URI over HTTP, end to end on one machine (SPEC 3.2, its local-development override).

A second local stack runs with `--allow-private-jwks-hosts --jwks-ca-bundle PEM`; the JWKS is made by
`countersign keygen` and served over real HTTPS on 127.0.0.1, by the test's server and by
`countersign jwks-serve` (docs/rs256.md's walk-through). The session's default stack, started without
the override, shows the deployed behaviour: loopback JWKS URIs are refused.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.local import COUNTERSIGN, REPO_ROOT, LocalApi, running_local_stack, stop, until_answer
from tests.support.tls import HttpsServer, Reply, TestPki, make_test_pki, serve_https
from tests.support.tokens import rs256_token as sign_rs256

CONFIRM = {"confirmation": "I understand"}
#: Paths the test JWKS server answers with 500 while they are in this set.
BROKEN_PATHS: set[str] = set()


@dataclass
class Rs256Setup:
    api: LocalApi
    pki: TestPki
    jwks_file: Path
    workdir: Path


def countersign(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(COUNTERSIGN), *args], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def rs256(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rs256Setup]:
    workdir = tmp_path_factory.mktemp("rs256")
    state_dir = workdir / "state"
    # In jwks-serve's TLS directory, so `countersign jwks-serve --state-dir state` presents a
    # certificate from the same CA (it reuses valid files it finds there).
    pki = make_test_pki(state_dir / "jwks-tls")
    jwks_file = workdir / "jwks.json"
    countersign("keygen", "--kid", "k1", "--private-key", str(workdir / "k1.pem"), "--jwks", str(jwks_file))
    with running_local_stack(state_dir, "--allow-private-jwks-hosts", "--jwks-ca-bundle", str(pki.ca_cert)) as api:
        yield Rs256Setup(api, pki, jwks_file, workdir)


@pytest.fixture
def jwks_server(rs256: Rs256Setup) -> Iterator[HttpsServer]:
    """The keygen JWKS at /jwks.json (read per request), 404 elsewhere."""

    def answer(path: str) -> Reply:
        if path in BROKEN_PATHS:
            return Reply.json({"error": "down"}, status=500)
        if path.endswith(".json") and path != "/gone.json":
            return Reply(body=rs256.jwks_file.read_bytes(), headers={"Content-Type": "application/json"})
        return Reply.json({"error": "not here"}, status=404)

    with serve_https(rs256.pki, answer) as server:
        yield server


def paths(app: dict[str, str]) -> tuple[str, str, str]:
    base = f"/v1/apps/{app['appId']}"
    return f"{base}/settings", f"{base}/jwks-uri/test", f"{base}/jwks-uri"


def test_turn_on_test_save_turn_off(rs256: Rs256Setup, jwks_server: HttpsServer) -> None:
    api = rs256.api
    app = api.create_app("rs256 walk-through")
    settings, test, save = paths(app)
    token = app["adminToken"]
    uri = jwks_server.url("/jwks.json")

    assert api.call("PATCH", settings, json_body={"useRs256SignedMetadata": True}, token=token).status == 200
    reply = api.call("POST", test, json_body={"uri": uri}, token=token)
    assert reply.status == 200, reply.body
    assert reply.body["valid"] is True and reply.body["uri"] == uri
    assert reply.body["keys"] == [{"kid": "k1", "kty": "RSA", "alg": "RS256", "bits": 2048}]
    assert reply.body["testedAt"].endswith("Z")

    reply = api.call("PUT", save, json_body={"uri": uri}, token=token)
    assert reply.status == 200, reply.body
    assert reply.body["jwksUri"] == uri
    assert api.call("GET", settings, token=token).body["jwksUri"] == uri

    reply = api.call("PATCH", settings, json_body={"useRs256SignedMetadata": False}, token=token)
    assert (reply.status, reply.error_code) == (400, "confirmation_required")
    reply = api.call("PATCH", settings, json_body={"useRs256SignedMetadata": False, **CONFIRM}, token=token)
    assert reply.status == 200 and reply.body["jwksUri"] is None and reply.body["useRs256SignedMetadata"] is False
    assert api.call("GET", settings, token=token).body["jwksUri"] is None
    # RS256 off: saving is refused until it is turned on again.
    assert api.call("PUT", save, json_body={"uri": uri}, token=token).error_code == "rs256_disabled"


def test_failures_over_http(rs256: Rs256Setup, jwks_server: HttpsServer) -> None:
    api = rs256.api
    app = api.create_app("rs256 failures")
    settings, test, save = paths(app)
    token = app["adminToken"]
    api.call("PATCH", settings, json_body={"useRs256SignedMetadata": True}, token=token)

    for body, code in [
        ({"uri": ""}, "jwks_uri_empty"),
        ({}, "jwks_uri_empty"),
        ({"uri": 7}, "jwks_uri_invalid"),
        ({"uri": jwks_server.url("/jwks.json").replace("https:", "http:")}, "jwks_uri_invalid"),
        ({"uri": "https://169.254.169.254/latest/meta-data"}, "jwks_uri_invalid"),
        ({"uri": jwks_server.url("/gone.json")}, "jwks_uri_unreachable"),
    ]:
        reply = api.call("POST", test, json_body=body, token=token)
        assert (reply.status, reply.error_code) == (422, code), (body, reply.body)
        assert reply.body["error"]["detail"]

    tested, edited = jwks_server.url("/jwks.json"), jwks_server.url("/edited.json")
    reply = api.call("PUT", save, json_body={"uri": tested}, token=token)
    assert (reply.status, reply.error_code) == (409, "jwks_uri_not_tested")
    assert api.call("POST", test, json_body={"uri": tested}, token=token).status == 200
    assert api.call("PUT", save, json_body={"uri": edited}, token=token).error_code == "jwks_uri_not_tested"
    assert api.call("PUT", save, json_body={"uri": tested}, token=token).status == 200

    for method, path in (("GET", test), ("GET", save), ("DELETE", save)):
        reply = api.call(method, path, token=token)
        assert (reply.status, reply.error_code) == (405, "method_not_allowed"), (method, path)


def test_jwks_serve_walkthrough_with_rotation(rs256: Rs256Setup) -> None:
    """docs/rs256.md's way: `countersign jwks-serve` publishes the keygen file; a new key shows at once."""
    api = rs256.api
    state_dir = rs256.api.state_dir
    served = rs256.workdir / "served-jwks.json"
    countersign("keygen", "--kid", "r1", "--private-key", str(rs256.workdir / "r1.pem"), "--jwks", str(served))
    process = subprocess.Popen(
        [str(COUNTERSIGN), "jwks-serve", "--jwks", str(served), "--port", "0", "--state-dir", str(state_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    state_file = state_dir / "jwks-serve.json"
    try:
        deadline = time.monotonic() + 30
        while not state_file.exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "jwks-serve did not start"
            time.sleep(0.05)
        time.sleep(0.05)
        state = json.loads(state_file.read_text())
        assert Path(state["caBundle"]) == rs256.pki.ca_cert.resolve(), "jwks-serve reused the CA the stack trusts"

        app = api.create_app("jwks-serve")
        settings, test, save = paths(app)
        token = app["adminToken"]
        api.call("PATCH", settings, json_body={"useRs256SignedMetadata": True}, token=token)
        reply = api.call("POST", test, json_body={"uri": state["jwksUri"]}, token=token)
        assert reply.status == 200, reply.body
        assert [key["kid"] for key in reply.body["keys"]] == ["r1"]
        assert api.call("PUT", save, json_body={"uri": state["jwksUri"]}, token=token).status == 200

        countersign("keygen", "--kid", "r2", "--private-key", str(rs256.workdir / "r2.pem"), "--jwks", str(served))
        reply = api.call("POST", test, json_body={"uri": state["jwksUri"]}, token=token)
        assert [key["kid"] for key in reply.body["keys"]] == ["r1", "r2"]
    finally:
        code = stop(process)
    assert code == 0
    assert not state_file.exists()


def test_the_default_stack_refuses_a_loopback_jwks(local: LocalApi, app: dict[str, str], tmp_path: Path) -> None:
    # `local` runs without the override, as every deployed function does.
    with serve_https(make_test_pki(tmp_path), Reply.json({"keys": []})) as server:
        reply = local.call(
            "POST", f"/v1/apps/{app['appId']}/jwks-uri/test", json_body={"uri": server.url()}, token=app["adminToken"]
        )
        assert (reply.status, reply.error_code) == (422, "jwks_uri_invalid"), reply.body
        assert reply.body["error"]["message"] == "The JWKS URI is invalid."
        assert "loopback" in reply.body["error"]["detail"]
        assert server.request_count == 0


def test_openapi_lists_the_jwks_routes(local: LocalApi) -> None:
    document = local.call("GET", "/openapi.json").body
    assert "post" in document["paths"]["/v1/apps/{appId}/jwks-uri/test"]
    assert "put" in document["paths"]["/v1/apps/{appId}/jwks-uri"]


def rs256_app(api: LocalApi, uri: str) -> dict[str, str]:
    """An application with RS256 on and `uri` tested and saved."""
    app = api.create_app("rs256 ingest")
    settings, test, save = paths(app)
    token = app["adminToken"]
    assert api.call("PATCH", settings, json_body={"useRs256SignedMetadata": True}, token=token).status == 200
    assert api.call("POST", test, json_body={"uri": uri}, token=token).status == 200
    assert api.call("PUT", save, json_body={"uri": uri}, token=token).status == 200
    return app


def rs256_token(pem: Path, kid: str, visitor: str = "v-1", account: str = "a-1") -> str:
    claims = {"nonce": secrets.token_urlsafe(8), "visitor": {"id": visitor}, "account": {"id": account}}
    return sign_rs256(claims, pem.read_bytes(), kid=kid)


def fetches(server: HttpsServer, path: str) -> int:
    return server.paths.count(path)


def test_rs256_sessions_events_rotation_and_turning_off(rs256: Rs256Setup, jwks_server: HttpsServer) -> None:
    api = rs256.api
    app = rs256_app(api, jwks_server.url("/ingest.json"))
    base = f"/v1/apps/{app['appId']}"
    session = api.call("POST", f"{base}/sessions", json_body={"jwt": rs256_token(rs256.workdir / "k1.pem", "k1")})
    assert session.status == 201, session.body
    assert session.body["signed"] == "rs256" and session.body["visitorId"] == "v-1"
    batch = {"sessionId": session.body["sessionId"], "events": [{"type": "view", "timestamp": int(time.time() * 1000)}]}
    assert api.call("POST", f"{base}/events", json_body=batch).body["accepted"] == 1
    raw = api.call("GET", f"{base}/raw-events", token=app["adminToken"]).body
    assert raw["events"][0]["verification"] == {"mode": "rs256", "kid": "k1"}

    # Rotation: a key published now works on its first request, with one more fetch of the JWKS.
    before = fetches(jwks_server, "/ingest.json")
    pem2 = rs256.workdir / "k-rotated.pem"
    countersign("keygen", "--kid", "k-rotated", "--private-key", str(pem2), "--jwks", str(rs256.jwks_file))
    rotated = api.call("POST", f"{base}/sessions", json_body={"jwt": rs256_token(pem2, "k-rotated", "v-2")})
    assert rotated.status == 201, rotated.body
    assert fetches(jwks_server, "/ingest.json") == before + 1

    # RS256 off (with the confirmation) removes the URI and stops RS256 sessions within the bound.
    settings = f"{base}/settings"
    off = api.call("PATCH", settings, json_body={"useRs256SignedMetadata": False, **CONFIRM}, token=app["adminToken"])
    assert off.status == 200 and off.body["jwksUri"] is None
    reply, _ = until_answer(lambda: api.call("POST", f"{base}/events", json_body=batch), 403)
    assert reply.error_code == "rs256_not_configured"
    new_session = api.call("POST", f"{base}/sessions", json_body={"jwt": rs256_token(rs256.workdir / "k1.pem", "k1")})
    assert (new_session.status, new_session.error_code) == (403, "rs256_not_configured")


def test_random_kids_cost_a_handful_of_fetches(rs256: Rs256Setup, jwks_server: HttpsServer) -> None:
    api = rs256.api
    app = rs256_app(api, jwks_server.url("/random.json"))
    sessions = f"/v1/apps/{app['appId']}/sessions"
    assert api.call("POST", sessions, json_body={"jwt": rs256_token(rs256.workdir / "k1.pem", "k1")}).status == 201
    before = fetches(jwks_server, "/random.json")
    dropped = 0
    for _ in range(40):
        token = rs256_token(rs256.workdir / "k1.pem", secrets.token_hex(8))
        reply = api.call("POST", sessions, json_body={"jwt": token})
        # Looked for and absent: a drop. Not looked for (the refetch budget is spent): a retry
        # with the seconds until the next fetch may start, never a drop (issue 12, defect 3).
        if reply.status == 503:
            assert 1 <= int(reply.headers["Retry-After"]) <= 10, reply.headers
        else:
            assert (reply.status, reply.error_code) == (401, "unknown_kid"), reply.body
            dropped += 1
    assert dropped >= 1
    assert fetches(jwks_server, "/random.json") - before <= 3
    diagnostics = api.call("GET", f"/v1/apps/{app['appId']}/diagnostics", token=app["adminToken"]).body
    assert diagnostics["counts"]["dropped"]["unknown_kid"] == dropped


def test_jwks_down_with_nothing_cached_is_503_never_a_drop(rs256: Rs256Setup, jwks_server: HttpsServer) -> None:
    api = rs256.api
    app = rs256_app(api, jwks_server.url("/flaky.json"))
    sessions = f"/v1/apps/{app['appId']}/sessions"
    token = rs256_token(rs256.workdir / "k1.pem", "k1")
    BROKEN_PATHS.add("/flaky.json")
    try:
        reply = api.call("POST", sessions, json_body={"jwt": token})
        assert (reply.status, reply.error_code) == (503, "service_unavailable"), reply.body
        assert reply.headers["Retry-After"] == "2"  # when the failure backoff allows the next fetch
    finally:
        BROKEN_PATHS.discard("/flaky.json")
    diagnostics = api.call("GET", f"/v1/apps/{app['appId']}/diagnostics", token=app["adminToken"]).body
    assert diagnostics["counts"]["dropped"] == {}
    time.sleep(2.1)  # the failure backoff
    assert api.call("POST", sessions, json_body={"jwt": token}).status == 201
