"""The settings function in-process on mock_aws: authorization, rules, concurrency guard."""

from __future__ import annotations

from typing import Any

from countersign.store.control import ControlStore
from tests.support.world import World


def settings_path(app_id: str) -> str:
    return f"/v1/apps/{app_id}/settings"


def test_new_application_has_default_settings(world: World) -> None:
    app = world.create_app()
    status, body = world.request("GET", settings_path(app["appId"]), token=app["adminToken"])
    assert status == 200
    assert body["useSignedMetadata"] is False and body["jwksUri"] is None and body["version"] == 1


def test_admin_authorization(world: World) -> None:
    app, other = world.create_app("a"), world.create_app("b")
    path = settings_path(app["appId"])
    assert world.request("GET", path)[1]["error"]["code"] == "unauthorized"
    assert world.request("GET", path, token="csa_not-a-real-token")[0] == 401
    assert world.request("GET", path, token="garbage")[0] == 401
    assert world.request("GET", path, token=other["adminToken"]) == (
        403,
        {"error": {"code": "forbidden", "message": "This admin token belongs to another application."}},
    )
    # An application that does not exist: 401 without a valid token, so existence is not revealed.
    assert world.request("GET", settings_path("app_doesnotexist00"))[0] == 401


def test_patch_persists_and_rs256_off_clears_uri(world: World) -> None:
    app = world.create_app()
    path, token = settings_path(app["appId"]), app["adminToken"]
    store = ControlStore(world.control_table, world.dynamodb)
    status, body = world.request("PATCH", path, body={"useRs256SignedMetadata": True}, token=token)
    assert status == 200 and body["version"] == 2
    # Simulate a saved JWKS URI (the jwks function's job), then turn RS256 off with confirmation.
    current = store.get_settings(app["appId"])
    from countersign.settings import with_jwks_uri

    store.replace_settings(app["appId"], with_jwks_uri(current, "https://k.example.com/j", now="t"), current.version)
    status, body = world.request("PATCH", path, body={"useRs256SignedMetadata": False}, token=token)
    assert (status, body["error"]["code"]) == (400, "confirmation_required")
    status, body = world.request(
        "PATCH", path, body={"useRs256SignedMetadata": False, "confirmation": "I understand"}, token=token
    )
    assert status == 200 and body["jwksUri"] is None and body["useRs256SignedMetadata"] is False
    assert store.get_settings(app["appId"]).jwks_uri is None


def test_stale_writer_never_overwrites(world: World) -> None:
    app = world.create_app()
    store = ControlStore(world.control_table, world.dynamodb)
    first = store.get_settings(app["appId"])
    world.request("PATCH", settings_path(app["appId"]), body={"useSignedMetadata": True}, token=app["adminToken"])
    from countersign.store.control import SettingsChanged

    try:
        store.replace_settings(app["appId"], first, first.version)
    except SettingsChanged:
        pass
    else:
        raise AssertionError("a write based on a stale version succeeded")
    assert store.get_settings(app["appId"]).use_signed_metadata is True


def test_malformed_bodies_are_400_invalid_json(world: World) -> None:
    app = world.create_app()
    path, token = settings_path(app["appId"]), app["adminToken"]
    bodies: list[Any] = [b"", b"[]", b"nul", b'"text"', b"{", b'{"a": NaN}', b"\xff\xfe", b"[" * 5000]
    for raw in bodies:
        status, body = world.request("PATCH", path, raw_body=raw, token=token)
        assert (status, body["error"]["code"]) == (400, "invalid_json"), raw[:20]


def test_oversize_body_is_413(world: World) -> None:
    app = world.create_app()
    status, body = world.request(
        "PATCH", settings_path(app["appId"]), raw_body=b'{"x": "' + b"a" * 20000 + b'"}', token=app["adminToken"]
    )
    assert (status, body["error"]["code"]) == (413, "payload_too_large")


def test_wrong_method_is_405(world: World) -> None:
    app = world.create_app()
    status, body = world.request("DELETE", settings_path(app["appId"]), token=app["adminToken"])
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")


def test_logs_carry_the_api_gateway_correlation_id(world: World) -> None:
    import io
    import json as _json
    import logging

    from countersign.observability import logger
    from countersign_dev.emulation.containers import LambdaContext
    from countersign_dev.emulation.local_stack import proxy_event
    from countersign_dev.emulation.template import routes

    app = world.create_app()
    route = next(r for r in routes(world.template) if r.method == "PATCH" and r.function == "SettingsFunction")
    event = proxy_event(
        route,
        "PATCH",
        settings_path(app["appId"]),
        "",
        [("Authorization", f"Bearer {app['adminToken']}")],
        b'{"useSignedMetadata": true}',
        {"appId": app["appId"]},
        "198.51.100.7",
    )
    sink = io.StringIO()
    capture = logging.StreamHandler(sink)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    try:
        world.handler(route.function)(event, LambdaContext(route.function))
    finally:
        logger.removeHandler(capture)
    logged = [_json.loads(line) for line in sink.getvalue().splitlines()]
    assert logged
    assert all(line["correlation_id"] == event["requestContext"]["requestId"] for line in logged)
    assert all(line["app_id"] == app["appId"] for line in logged)


def test_admin_check_uses_the_app_id_the_route_receives(world: World) -> None:
    app = world.create_app()
    # API Gateway decodes pathParameters (app_...), the resolver routes on the raw path (app%5F...):
    # authorization must judge the id the route acts on, so the two can never disagree.
    encoded = app["appId"].replace("_", "%5F", 1)
    status, body = world.request("GET", settings_path(encoded), token=app["adminToken"])
    assert (status, body["error"]["code"]) == (403, "forbidden")


def test_an_application_id_never_leaks_into_the_next_requests_logs(world: World) -> None:
    import io
    import json as _json
    import logging

    from countersign.observability import logger

    app = world.create_app()
    sink = io.StringIO()
    capture = logging.StreamHandler(sink)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    try:
        world.request("PATCH", settings_path(app["appId"]), body={"useSignedMetadata": True}, token=app["adminToken"])
        sink.truncate(0)
        sink.seek(0)
        # The same warm container, next request: no token, so nothing may name the earlier app.
        world.request("PATCH", settings_path(app["appId"]), body={"bogus": 1}, token=app["adminToken"])
        world.request("GET", settings_path("app_someoneelse0000"))
        logger.info("after the requests")
    finally:
        logger.removeHandler(capture)
    last = _json.loads(sink.getvalue().splitlines()[-1])
    assert "app_id" not in last, last


def test_turning_hs256_off_asks_for_the_typed_confirmation_when_it_would_drop_traffic(world: World) -> None:
    """Issue 21: turning useSignedMetadata off dropped all HS256 traffic with no confirmation."""
    from tests.support.tenant import CONFIRM, Tenant
    from tests.support.tokens import hs256_credentials, with_nonce

    quiet, busy = Tenant(world), Tenant(world)
    for tenant in (quiet, busy):
        tenant.settings(useSignedMetadata=True)
    key_name, secret = busy.new_key()
    assert busy.session(hs256_credentials(with_nonce({"visitor": {"id": "v"}}), secret, key_name))[0] == 201

    # Nothing signed with HS256 in the last 24 hours: nothing to drop, no confirmation (as before).
    assert quiet.admin("PATCH", "/settings", {"useSignedMetadata": False})[0] == 200
    # Traffic the dry run says would be dropped: the real change and the dry run both ask first.
    for dry_run in ({}, {"dryRun": True}):
        status, refused = busy.admin("PATCH", "/settings", {"useSignedMetadata": False, **dry_run})
        assert (status, refused["error"]["code"]) == (400, "confirmation_required"), refused
        assert "1 session" in refused["error"]["message"] and "I understand" in refused["error"]["message"]
    status, preview = busy.admin("PATCH", "/settings", {"useSignedMetadata": False, "dryRun": True, **CONFIRM})
    assert status == 200 and preview["impact"]["wouldDrop"] == {"sessions": 1, "events": 0}
    assert busy.admin("GET", "/settings")[1]["useSignedMetadata"] is True  # nothing changed so far
    status, changed = busy.admin("PATCH", "/settings", {"useSignedMetadata": False, **CONFIRM})
    assert status == 200 and changed["useSignedMetadata"] is False
