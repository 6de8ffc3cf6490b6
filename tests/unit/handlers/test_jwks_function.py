"""The jwks function in-process on mock_aws: test and save a JWKS URI (SPEC 3.2).

A real HTTPS JWKS server runs on 127.0.0.1 (tests/support/tls.py); the local-development override
(ALLOW_PRIVATE_JWKS_HOSTS, JWKS_CA_BUNDLE) lets the function reach it, exactly as
`countersign local --allow-private-jwks-hosts --jwks-ca-bundle PEM` does.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from countersign import container
from countersign.jwks import FAILURE_BACKOFF_SECONDS, address_policy
from countersign.jwks_uri import TEST_VALIDITY, require_recent_test
from countersign.netguard import AddressPolicy
from countersign.store.jwks_uri_passes import JwksUriPasses
from tests.support.tenant import Tenant
from tests.support.tls import HttpsServer, Reply, TestPki, free_port, make_test_pki, serve_https
from tests.support.tokens import public_jwk, rs256_token, with_nonce
from tests.support.world import World

MESSAGES = {
    "jwks_uri_empty": "The JWKS URI cannot be empty.",
    "jwks_uri_invalid": "The JWKS URI is invalid.",
    "jwks_uri_unreachable": "Failed to access the specified URI",
    "jwks_document_invalid": "Unable to fetch a JWK Set from the specified URI.",
}
CONFIRM = {"confirmation": "I understand"}


def rs256_body(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {"jwt": rs256_token(with_nonce({"visitor": {"id": "v"}, "account": {"id": "a"}}), key, kid=kid)}


def events_of(count: int, prefix: str) -> list[dict[str, Any]]:
    return [{"type": "view", "timestamp": int(time.time() * 1000), "insertId": f"{prefix}-{i}"} for i in range(count)]


def b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_jwk(bits: int, kid: str) -> dict[str, Any]:
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": b64url_uint(numbers.n), "e": "AQAB"}


@pytest.fixture(scope="module")
def documents() -> dict[str, Reply]:
    """What the test JWKS server answers, by path."""
    good = Reply.json({"keys": [rsa_jwk(2048, "key-1")]})
    return {
        "/jwks.json": good,
        "/edited.json": good,
        "/missing.json": Reply.json({"error": "no"}, status=404),
        "/moved.json": Reply(status=302, headers={"Location": "https://127.0.0.1/jwks.json"}),
        "/empty.json": Reply.json({"keys": []}),
        "/weak.json": Reply.json({"keys": [rsa_jwk(1024, "weak")]}),
        "/not-json.json": Reply(body=b"<html>hello</html>"),
    }


@pytest.fixture
def server(pki: TestPki, documents: dict[str, Reply]) -> Iterator[HttpsServer]:
    with serve_https(pki, lambda path: documents.get(path, Reply(status=404))) as running:
        yield running


@pytest.fixture
def dev_world(world: World, monkeypatch: pytest.MonkeyPatch, pki: TestPki) -> World:
    """The world with the local-development override, read afresh by a cold container."""
    monkeypatch.setenv("ALLOW_PRIVATE_JWKS_HOSTS", "true")
    monkeypatch.setenv("JWKS_CA_BUNDLE", str(pki.ca_cert))
    container.reset()
    return world


def uri_test_path(app: dict[str, str]) -> str:
    return f"/v1/apps/{app['appId']}/jwks-uri/test"


def save_path(app: dict[str, str]) -> str:
    return f"/v1/apps/{app['appId']}/jwks-uri"


def settings_path(app: dict[str, str]) -> str:
    return f"/v1/apps/{app['appId']}/settings"


def rs256_app(world: World, name: str = "RS256 app") -> dict[str, str]:
    app = world.create_app(name)
    status, _ = world.request(
        "PATCH", settings_path(app), body={"useRs256SignedMetadata": True}, token=app["adminToken"]
    )
    assert status == 200
    return app


def run_test(world: World, app: dict[str, str], uri: Any) -> tuple[int, Any]:
    return world.request("POST", uri_test_path(app), body={"uri": uri}, token=app["adminToken"])


def save(world: World, app: dict[str, str], uri: Any) -> tuple[int, Any]:
    return world.request("PUT", save_path(app), body={"uri": uri}, token=app["adminToken"])


def assert_error(reply: tuple[int, Any], status: int, code: str) -> str:
    """The reply is `status` with `code` (and the SPEC message for the four 422s); returns the detail."""
    got_status, body = reply
    assert (got_status, body["error"]["code"]) == (status, code), body
    if code in MESSAGES:
        assert body["error"]["message"] == MESSAGES[code]
        detail: str = body["error"]["detail"]
        assert detail
        return detail
    return str(body["error"].get("detail", ""))


# ---------------------------------------------------------------------------------------------
# test


def test_a_reachable_jwks_gives_the_report(dev_world: World, server: HttpsServer) -> None:
    app = rs256_app(dev_world)
    uri = server.url("/jwks.json")
    before = datetime.now(UTC).replace(microsecond=0)
    status, body = run_test(dev_world, app, uri)
    assert status == 200, body
    assert body == {
        "valid": True,
        "uri": uri,
        "keys": [{"kid": "key-1", "kty": "RSA", "alg": "RS256", "bits": 2048}],
        "testedAt": body["testedAt"],
    }
    tested_at = datetime.strptime(body["testedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= tested_at <= datetime.now(UTC)
    assert server.paths == ["/jwks.json"]
    # Recorded for this app and exact URI, with a DynamoDB TTL past the 15-minute window.
    store = JwksUriPasses(dev_world.control_table, dev_world.dynamodb)
    assert store.last_success(app["appId"], uri) == tested_at
    assert store.last_success(app["appId"], uri + "x") is None


def test_testing_needs_no_setting_on(dev_world: World, server: HttpsServer) -> None:
    app = dev_world.create_app()  # RS256 off: checking an endpoint before turning RS256 on is fine
    assert run_test(dev_world, app, server.url("/jwks.json"))[0] == 200


@pytest.mark.parametrize("body", [{}, {"uri": None}, {"uri": ""}, {"uri": "   "}])
def test_an_empty_uri_is_jwks_uri_empty(dev_world: World, body: dict[str, Any]) -> None:
    app = dev_world.create_app()
    reply = dev_world.request("POST", uri_test_path(app), body=body, token=app["adminToken"])
    assert assert_error(reply, 422, "jwks_uri_empty") == "A JWKS URI is required."


@pytest.mark.parametrize(
    ("uri", "detail_has"),
    [
        (42, "must be a string"),
        (["https://k.example.com/"], "must be a string"),
        ("http://127.0.0.1/jwks.json", "https scheme"),
        ("https://127.0.0.1/jwks.json?x=1", "query"),
        ("https://127.0.0.1/jwks.json#k", "fragment"),
        ("https://user:pw@127.0.0.1/jwks.json", "user information"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),  # refused even with the override
    ],
)
def test_an_invalid_uri_is_jwks_uri_invalid(dev_world: World, uri: Any, detail_has: str) -> None:
    app = dev_world.create_app()
    detail = assert_error(run_test(dev_world, app, uri), 422, "jwks_uri_invalid")
    assert detail_has in detail
    assert "pw" not in detail


@pytest.mark.parametrize(
    ("path", "detail_has"),
    [("/missing.json", "HTTP 404"), ("/moved.json", "redirect")],
)
def test_an_unreachable_uri_is_jwks_uri_unreachable(
    dev_world: World, server: HttpsServer, path: str, detail_has: str
) -> None:
    app = dev_world.create_app()
    assert detail_has in assert_error(run_test(dev_world, app, server.url(path)), 422, "jwks_uri_unreachable")


def test_nothing_listening_and_untrusted_tls_are_unreachable(
    dev_world: World, tmp_path: Path, documents: dict[str, Reply]
) -> None:
    app = dev_world.create_app()
    refused = f"https://127.0.0.1:{free_port()}/jwks.json"
    assert "connection refused" in assert_error(run_test(dev_world, app, refused), 422, "jwks_uri_unreachable")
    # A server whose certificate the configured CA bundle did not sign.
    with serve_https(make_test_pki(tmp_path / "other-ca"), documents["/jwks.json"]) as stranger:
        detail = assert_error(run_test(dev_world, app, stranger.url()), 422, "jwks_uri_unreachable")
    assert "certificate" in detail


@pytest.mark.parametrize(
    ("path", "detail_has"),
    [("/empty.json", "keys list is empty"), ("/weak.json", "1024 bits"), ("/not-json.json", "did not return JSON")],
)
def test_a_bad_document_is_jwks_document_invalid(
    dev_world: World, server: HttpsServer, path: str, detail_has: str
) -> None:
    app = dev_world.create_app()
    assert detail_has in assert_error(run_test(dev_world, app, server.url(path)), 422, "jwks_document_invalid")


def test_strict_policy_refuses_loopback_without_opening_a_socket(
    world: World, server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No override: what the deployed template gives every function.
    monkeypatch.delenv("ALLOW_PRIVATE_JWKS_HOSTS", raising=False)
    monkeypatch.delenv("JWKS_CA_BUNDLE", raising=False)
    container.reset()
    app = world.create_app()
    world.handler("JwksFunction")  # import before the traps, like a warm container
    assert address_policy() == AddressPolicy()
    opened: list[str] = []

    def trap(name: str) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            opened.append(name)
            raise AssertionError(f"{name} was called")

        return record

    for name in ("socket", "create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, trap(name))
    detail = assert_error(run_test(world, app, server.url("/jwks.json")), 422, "jwks_uri_invalid")
    monkeypatch.undo()
    assert "loopback" in detail
    assert opened == [] and server.request_count == 0


def test_body_shape_errors(dev_world: World) -> None:
    app = dev_world.create_app()
    token = app["adminToken"]
    for path in (uri_test_path(app), save_path(app)):
        method = "POST" if path.endswith("/test") else "PUT"
        status, body = dev_world.request(method, path, body={"uri": "https://k.example.com/", "url": "x"}, token=token)
        assert (status, body["error"]["code"]) == (400, "invalid_request")
        assert "url" in body["error"]["message"]
        for raw in (b"", b"[]", b'"https://k.example.com/"', b"{"):
            status, body = dev_world.request(method, path, raw_body=raw, token=token)
            assert (status, body["error"]["code"]) == (400, "invalid_json"), raw
        status, body = dev_world.request(method, path, raw_body=b'{"uri": "' + b"a" * 20_000 + b'"}', token=token)
        assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_wrong_methods_are_405(dev_world: World) -> None:
    app = dev_world.create_app()
    for method, path in [
        ("GET", uri_test_path(app)),
        ("PUT", uri_test_path(app)),
        ("DELETE", uri_test_path(app)),
        ("GET", save_path(app)),
        ("POST", save_path(app)),
        ("DELETE", save_path(app)),
        ("PATCH", save_path(app)),
    ]:
        status, body = dev_world.request(method, path, body={"uri": "x"}, token=app["adminToken"])
        assert (status, body["error"]["code"]) == (405, "method_not_allowed"), (method, path)


def test_admin_authorization(dev_world: World, server: HttpsServer) -> None:
    app, other = dev_world.create_app("a"), dev_world.create_app("b")
    for method, path in (("POST", uri_test_path(app)), ("PUT", save_path(app))):
        body = {"uri": server.url()}
        assert dev_world.request(method, path, body=body)[0] == 401
        assert dev_world.request(method, path, body=body, token=other["adminToken"])[0] == 403
    assert server.request_count == 0


# ---------------------------------------------------------------------------------------------
# save


def test_save_after_a_test_saves_the_uri(dev_world: World, server: HttpsServer) -> None:
    app = rs256_app(dev_world)
    uri = server.url("/jwks.json")
    assert run_test(dev_world, app, uri)[0] == 200
    status, body = save(dev_world, app, uri)
    assert status == 200, body
    assert body["jwksUri"] == uri and body["useRs256SignedMetadata"] is True and body["version"] == 3
    assert set(body) == {
        "useSignedMetadata",
        "useRs256SignedMetadata",
        "jwksUri",
        "onlyAllowSignedMetadata",
        "version",
        "updatedAt",
    }
    assert dev_world.request("GET", settings_path(app), token=app["adminToken"])[1]["jwksUri"] == uri
    # The test is not consumed: a retried PUT (its answer was lost) gets the same outcome.
    assert save(dev_world, app, uri)[0] == 200
    assert server.request_count == 1  # saving fetches nothing


def test_save_without_a_test_is_409(dev_world: World, server: HttpsServer) -> None:
    app = rs256_app(dev_world)
    detail = assert_error(save(dev_world, app, server.url("/jwks.json")), 409, "jwks_uri_not_tested")
    assert "no successful test" in detail
    assert dev_world.request("GET", settings_path(app), token=app["adminToken"])[1]["jwksUri"] is None


def test_an_edited_uri_needs_its_own_test(dev_world: World, server: HttpsServer) -> None:
    app = rs256_app(dev_world)
    tested = server.url("/jwks.json")
    assert run_test(dev_world, app, tested)[0] == 200
    for edited in (server.url("/edited.json"), server.url("/jwks.json", host="localhost"), tested + "/"):
        assert_error(save(dev_world, app, edited), 409, "jwks_uri_not_tested")
    assert run_test(dev_world, app, server.url("/edited.json"))[0] == 200
    assert save(dev_world, app, server.url("/edited.json"))[1]["jwksUri"] == server.url("/edited.json")


def test_save_needs_rs256_on(dev_world: World, server: HttpsServer) -> None:
    app = dev_world.create_app()
    uri = server.url("/jwks.json")
    assert run_test(dev_world, app, uri)[0] == 200
    assert_error(save(dev_world, app, uri), 409, "rs256_disabled")
    # Checked before the test: "turn RS256 on" is what to fix first.
    assert_error(save(dev_world, app, server.url("/untested.json")), 409, "rs256_disabled")


def test_save_needs_only_allow_off(dev_world: World, server: HttpsServer) -> None:
    app = rs256_app(dev_world)
    token = app["adminToken"]
    uri = server.url("/jwks.json")
    assert run_test(dev_world, app, uri)[0] == 200
    assert save(dev_world, app, uri)[0] == 200
    status, _ = dev_world.request(
        "PATCH", settings_path(app), body={"onlyAllowSignedMetadata": True, **CONFIRM}, token=token
    )
    assert status == 200
    assert run_test(dev_world, app, server.url("/edited.json"))[0] == 200
    assert_error(save(dev_world, app, server.url("/edited.json")), 409, "only_signed_metadata_enabled")
    assert dev_world.request("GET", settings_path(app), token=token)[1]["jwksUri"] == uri


def test_a_test_counts_for_15_minutes(dev_world: World, server: HttpsServer) -> None:
    app = rs256_app(dev_world)
    uri = server.url("/jwks.json")
    store = JwksUriPasses(dev_world.control_table, dev_world.dynamodb)
    now = datetime.now(UTC)
    old = now - TEST_VALIDITY - timedelta(minutes=1)
    store.record_success(app["appId"], uri, tested_at=old, expires_at=old + TEST_VALIDITY)
    detail = assert_error(save(dev_world, app, uri), 409, "jwks_uri_not_tested")
    assert "more than 15 minutes ago" in detail
    recent = now - TEST_VALIDITY + timedelta(minutes=1)
    store.record_success(app["appId"], uri, tested_at=recent, expires_at=recent + TEST_VALIDITY)
    assert save(dev_world, app, uri)[0] == 200


def test_the_window_rule() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    require_recent_test(now - TEST_VALIDITY, now=now)
    require_recent_test(now, now=now)
    for tested_at in (None, now - TEST_VALIDITY - timedelta(seconds=1)):
        with pytest.raises(Exception, match="jwks_uri_not_tested"):
            require_recent_test(tested_at, now=now)


def test_another_apps_test_does_not_count(dev_world: World, server: HttpsServer) -> None:
    app, other = rs256_app(dev_world, "a"), rs256_app(dev_world, "b")
    uri = server.url("/jwks.json")
    assert run_test(dev_world, other, uri)[0] == 200
    assert_error(save(dev_world, app, uri), 409, "jwks_uri_not_tested")
    assert save(dev_world, other, uri)[0] == 200


def test_a_failed_test_forgets_an_earlier_success(pki: TestPki, dev_world: World) -> None:
    app = rs256_app(dev_world)
    answers = [Reply.json({"keys": [rsa_jwk(2048, "k")]})]
    with serve_https(pki, lambda _: answers[-1]) as flaky:
        uri = flaky.url()
        assert run_test(dev_world, app, uri)[0] == 200
        answers.append(Reply(status=500))
        assert_error(run_test(dev_world, app, uri), 422, "jwks_uri_unreachable")
    assert_error(save(dev_world, app, uri), 409, "jwks_uri_not_tested")


def test_save_checks_the_address_policy_again(
    dev_world: World, server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = rs256_app(dev_world)
    uri = server.url("/jwks.json")
    assert run_test(dev_world, app, uri)[0] == 200
    # The override is gone (say, a configuration change): a test made under it cannot be saved.
    monkeypatch.delenv("ALLOW_PRIVATE_JWKS_HOSTS")
    container.reset()
    assert "loopback" in assert_error(save(dev_world, app, uri), 422, "jwks_uri_invalid")
    assert_error(save(dev_world, app, ""), 422, "jwks_uri_empty")


def test_turning_rs256_off_removes_the_saved_uri(dev_world: World, server: HttpsServer) -> None:
    app = rs256_app(dev_world)
    token = app["adminToken"]
    uri = server.url("/jwks.json")
    run_test(dev_world, app, uri)
    save(dev_world, app, uri)
    body = {"useRs256SignedMetadata": False, **CONFIRM}
    status, settings = dev_world.request("PATCH", settings_path(app), body=body, token=token)
    assert (status, settings["jwksUri"], settings["useRs256SignedMetadata"]) == (200, None, False)


# ---------------------------------------------------------------------------------------------
# operability


def test_outcomes_are_logged_with_the_host_only_and_counted(
    dev_world: World, server: HttpsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from countersign.observability import logger

    app = rs256_app(dev_world)
    sink = io.StringIO()
    capture = logging.StreamHandler(sink)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    try:
        run_test(dev_world, app, server.url("/jwks.json"))
        run_test(dev_world, app, server.url("/missing.json"))
        save(dev_world, app, server.url("/jwks.json"))
        save(dev_world, app, server.url("/never-tested.json"))
    finally:
        logger.removeHandler(capture)
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    outcomes = [(line["action"], line["code"], line["uri_host"]) for line in lines if "action" in line]
    assert outcomes == [
        ("test", "ok", "127.0.0.1"),
        ("test", "jwks_uri_unreachable", "127.0.0.1"),
        ("save", "ok", "127.0.0.1"),
        ("save", "jwks_uri_not_tested", "127.0.0.1"),
    ]
    assert all(line["app_id"] == app["appId"] for line in lines if "action" in line)
    assert "/jwks.json" not in sink.getvalue() and "/never-tested.json" not in sink.getvalue()
    metrics = capsys.readouterr().out
    for name in ("JwksUriTested", "JwksUriTestFailed", "JwksUriSaved"):
        assert f'"{name}"' in metrics, name


def test_address_policy_reads_the_configuration(monkeypatch: pytest.MonkeyPatch, pki: TestPki) -> None:
    monkeypatch.delenv("ALLOW_PRIVATE_JWKS_HOSTS", raising=False)
    monkeypatch.delenv("JWKS_CA_BUNDLE", raising=False)
    container.reset()
    assert address_policy() == AddressPolicy(allow_private_hosts=False, ca_bundle=None)
    monkeypatch.setenv("ALLOW_PRIVATE_JWKS_HOSTS", "true")
    monkeypatch.setenv("JWKS_CA_BUNDLE", str(pki.ca_cert))
    assert address_policy() == AddressPolicy(), "configuration is read once per container"
    container.reset()
    assert address_policy() == AddressPolicy(allow_private_hosts=True, ca_bundle=str(pki.ca_cert))
    monkeypatch.undo()
    container.reset()


# ---------------------------------------------------------------------------------------------
# a kid removed from the set (SPEC 3.4: removing a public key is how a customer revokes it)


def test_a_kid_removed_from_the_set_stops_the_sessions_started_with_it(dev_world: World, pki: TestPki) -> None:
    old, new = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    published = {"keys": [public_jwk(old, "old"), public_jwk(new, "new")]}
    with serve_https(pki, lambda _path: Reply.json(published)) as server:
        tenant = Tenant(dev_world)
        tenant.save_jwks_uri(server.url("/rotating.json"))

        def start(key: rsa.RSAPrivateKey, kid: str) -> tuple[int, Any]:
            return tenant.session(rs256_body(key, kid))

        (status, with_old), (_, with_new) = start(old, "old"), start(new, "new")
        assert status == 201, with_old
        assert tenant.events(with_old["sessionId"], events_of(1, "a"))[0] == 200

        # The customer rotates: publishes "newer" and removes "old". The first token with the new
        # kid makes the service fetch the set (SPEC 3.4), which no longer holds the old one ...
        newer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        published["keys"] = [public_jwk(new, "new"), public_jwk(newer, "newer")]
        assert start(newer, "newer")[0] == 201
        status, refused = start(old, "old")
        assert (status, refused["error"]["code"]) == (401, "unknown_kid")
        # ... so the sessions started with the old kid stop at their next batch, counted as dropped.
        status, answer = tenant.events(with_old["sessionId"], events_of(3, "b"))
        assert (status, answer["error"]["code"]) == (401, "unknown_kid"), answer
        assert tenant.dropped() == {"unknown_kid": 1 + 3}
        assert tenant.events(with_new["sessionId"], events_of(2, "c"))[0] == 200

        # Without such a token, a container whose cached set is past its TTL (here: a cold one)
        # fetches the set for the next batch, and the same holds.
        later = start(new, "new")[1]
        published["keys"] = [public_jwk(newer, "newer")]
        container.reset()
        status, answer = tenant.events(later["sessionId"], events_of(1, "d"))
        assert (status, answer["error"]["code"]) == (401, "unknown_kid")


def test_an_unreachable_set_delays_a_running_session_and_drops_nothing(dev_world: World, pki: TestPki) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    reachable = {"now": True}

    def answer(_path: str) -> Reply:
        return Reply.json({"keys": [public_jwk(key, "k")]}) if reachable["now"] else Reply(status=503)

    with serve_https(pki, answer) as server:
        tenant = Tenant(dev_world)
        tenant.save_jwks_uri(server.url("/flaky.json"))
        session = tenant.session(rs256_body(key, "k"))[1]
        reachable["now"] = False
        container.reset()  # a cold container: nothing cached, and the endpoint fails
        status, _ = tenant.events(session["sessionId"], events_of(2, "a"))
        assert status == 503
        assert tenant.dropped() == {}
        reachable["now"] = True
        time.sleep(FAILURE_BACKOFF_SECONDS)  # the SDK retries after Retry-After
        status, accepted = tenant.events(session["sessionId"], events_of(2, "a"))
        assert (status, accepted["accepted"]) == (200, 2)


def test_a_failed_jwks_refresh_is_logged_as_the_functions_json_log_line(
    dev_world: World, pki: TestPki, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 22 item 5: the JWKS cache logs through the Powertools logger (a child of the
    function's), so its line is JSON with the invocation's keys like every other line."""
    from countersign.observability import logger as function_logger

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    reachable = {"now": True}

    def answer(_path: str) -> Reply:
        return Reply.json({"keys": [public_jwk(key, "k")]}) if reachable["now"] else Reply(status=503)

    with serve_https(pki, answer) as server:
        tenant = Tenant(dev_world)
        tenant.save_jwks_uri(server.url("/logged.json"))
        reachable["now"] = False
        container.reset()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert tenant.session(rs256_body(key, "k"))[0] == 503
    (record,) = [record for record in caplog.records if record.getMessage() == "JWKS refresh failed"]
    assert record.name.startswith(function_logger.name + "."), record.name
    line = json.loads(function_logger.registered_formatter.format(record))
    assert line["level"] == "WARNING" and line["error_code"] == "jwks_uri_unreachable"
    assert line["function_name"] == "IngestFunction" and line["correlation_id"]
