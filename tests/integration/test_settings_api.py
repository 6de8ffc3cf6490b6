"""Settings over HTTP against the local stack (SPEC 3.1, 3 error shape)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.support.local import LocalApi

CONFIRM = {"confirmation": "I understand"}


def path(app: dict[str, str]) -> str:
    return f"/v1/apps/{app['appId']}/settings"


def test_read_and_toggle(local: LocalApi, app: dict[str, str]) -> None:
    reply = local.call("GET", path(app), token=app["adminToken"])
    assert reply.status == 200
    assert reply.body == {
        "useSignedMetadata": False,
        "useRs256SignedMetadata": False,
        "jwksUri": None,
        "onlyAllowSignedMetadata": False,
        "version": 1,
        "updatedAt": reply.body["updatedAt"],
    }
    reply = local.call("PATCH", path(app), json_body={"useSignedMetadata": True}, token=app["adminToken"])
    assert (reply.status, reply.body["useSignedMetadata"], reply.body["version"]) == (200, True, 2)
    assert local.call("GET", path(app), token=app["adminToken"]).body["useSignedMetadata"] is True


def test_only_allow_guards(local: LocalApi, app: dict[str, str]) -> None:
    token = app["adminToken"]
    assert local.call("PATCH", path(app), json_body={"onlyAllowSignedMetadata": True}, token=token).error_code == (
        "confirmation_required"
    )
    reply = local.call("PATCH", path(app), json_body={"onlyAllowSignedMetadata": True, **CONFIRM}, token=token)
    assert (reply.status, reply.error_code) == (409, "no_signing_mode")
    local.call("PATCH", path(app), json_body={"useSignedMetadata": True}, token=token)
    reply = local.call("PATCH", path(app), json_body={"onlyAllowSignedMetadata": True, **CONFIRM}, token=token)
    assert reply.status == 200 and reply.body["onlyAllowSignedMetadata"] is True
    reply = local.call("PATCH", path(app), json_body={"useSignedMetadata": False}, token=token)
    assert (reply.status, reply.error_code) == (409, "only_signed_metadata_enabled")
    reply = local.call("PATCH", path(app), json_body={"jwksUri": "https://example.com/jwks"}, token=token)
    assert (reply.status, reply.error_code) == (400, "invalid_request")


def test_ten_concurrent_patches_lose_nothing(local: LocalApi, app: dict[str, str]) -> None:
    toggles = [{"useSignedMetadata": i % 2 == 0} if i % 3 else {"useRs256SignedMetadata": True} for i in range(10)]

    def patch(body: dict[str, bool]) -> int:
        reply = local.call("PATCH", path(app), json_body=body, token=app["adminToken"])
        assert reply.status == 200, reply.body
        return int(reply.body["version"])

    with ThreadPoolExecutor(max_workers=10) as pool:
        versions = list(pool.map(patch, toggles))

    assert len(set(versions)) == 10, f"two answers share a version: {sorted(versions)}"
    final = local.call("GET", path(app), token=app["adminToken"]).body
    assert final["version"] == 1 + 10 == max(versions)


def test_authorization(local: LocalApi, app: dict[str, str]) -> None:
    other = local.create_app("other")
    assert local.call("GET", path(app)).error_code == "unauthorized"
    assert local.call("GET", path(app), headers={"Authorization": "Basic abc"}).status == 401
    assert local.call("GET", path(app), token=other["adminToken"]).status == 403
    assert (
        local.call("PATCH", path(app), json_body={"useSignedMetadata": True}, token=other["adminToken"]).status == 403
    )
    assert local.call("GET", "/v1/apps/app_0000000000000000/settings").status == 401


def test_error_shape_for_routing_and_bodies(local: LocalApi, app: dict[str, str]) -> None:
    token = app["adminToken"]
    for reply, status, code in [
        (local.call("GET", "/nope", token=token), 404, "not_found"),
        (local.call("GET", "/v1/apps", token=token), 404, "not_found"),
        (local.call("DELETE", path(app), token=token), 405, "method_not_allowed"),
        (local.call("PUT", path(app), json_body={}, token=token), 405, "method_not_allowed"),
        (local.call("PATCH", path(app), data="not json", token=token), 400, "invalid_json"),
        (local.call("PATCH", path(app), data="[1, 2]", token=token), 400, "invalid_json"),
        (local.call("PATCH", path(app), data=b"\xff\xfe\xfd", token=token), 400, "invalid_json"),
        (local.call("PATCH", path(app), data="x" * 100_000, token=token), 413, "payload_too_large"),
    ]:
        assert (reply.status, reply.error_code) == (status, code), reply.body
        assert set(reply.body["error"]) >= {"code", "message"}


def test_openapi_document_lists_the_routes(local: LocalApi) -> None:
    reply = local.call("GET", "/openapi.json")
    assert reply.status == 200
    assert reply.body["openapi"].startswith("3.")
    assert {"get", "patch"} <= set(reply.body["paths"]["/v1/apps/{appId}/settings"])


def test_cors_preflight_needs_no_token(local: LocalApi, app: dict[str, str]) -> None:
    reply = local.call("OPTIONS", path(app), headers={"Origin": "https://app.example.com"})
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


def test_malformed_content_length_is_400_in_the_error_shape(local: LocalApi, app: dict[str, str]) -> None:
    import http.client
    import json
    from urllib.parse import urlsplit

    url = urlsplit(local.url)
    for declared in ("o", "-1", "1e3", "12abc"):
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
        try:
            connection.putrequest("GET", path(app))
            connection.putheader("Content-Length", declared)
            connection.putheader("Authorization", f"Bearer {app['adminToken']}")
            connection.endheaders()
            response = connection.getresponse()
            body = json.loads(response.read())
        finally:
            connection.close()
        assert response.status == 400, declared
        assert body["error"]["code"] == "invalid_request"
