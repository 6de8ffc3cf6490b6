"""Signing keys over HTTP against the local stack (SPEC 3.1): the limit under concurrency, secrets."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from countersign.keys import MAX_ACTIVE_KEYS
from tests.support.local import LocalApi, Reply


def keys(app: dict[str, str], *rest: str) -> str:
    return "/".join([f"/v1/apps/{app['appId']}/keys", *rest])


def generate(local: LocalApi, app: dict[str, str], description: str = "server") -> Reply:
    return local.call("POST", keys(app), json_body={"description": description}, token=app["adminToken"])


def admin(local: LocalApi, app: dict[str, str], method: str, *rest: str, **kwargs: Any) -> Reply:
    return local.call(method, keys(app, *rest), token=app["adminToken"], **kwargs)


def test_generate_list_reveal_revoke(local: LocalApi, app: dict[str, str]) -> None:
    created = generate(local, app, "  Production web server ")
    assert created.status == 201
    key = created.body
    assert key == {
        "keyName": key["keyName"],
        "description": "Production web server",
        "status": "active",
        "createdAt": key["createdAt"],
        "revokedAt": None,
        "lastUsedAt": None,
    }
    assert re.fullmatch(r"key_[0-9a-f]{12}", key["keyName"])

    assert admin(local, app, "GET").body == {"activeKeys": [key], "revokedKeys": [], "activeKeyLimit": MAX_ACTIVE_KEYS}

    revealed = admin(local, app, "POST", key["keyName"], "reveal")
    assert revealed.status == 200
    assert revealed.body["keyName"] == key["keyName"]
    assert re.fullmatch(r"css_[A-Za-z0-9_-]{43}", revealed.body["secret"])
    assert revealed.headers["Cache-Control"] == "no-store"

    revoked = admin(local, app, "POST", key["keyName"], "revoke")
    assert revoked.status == 200
    assert revoked.body == {**key, "status": "revoked", "revokedAt": revoked.body["revokedAt"]}
    assert revoked.body["revokedAt"] is not None

    again = admin(local, app, "POST", key["keyName"], "revoke")
    assert (again.status, again.error_code) == (409, "key_revoked")
    hidden = admin(local, app, "POST", key["keyName"], "reveal")
    assert (hidden.status, hidden.error_code) == (409, "key_revoked")
    assert admin(local, app, "GET").body == {
        "activeKeys": [],
        "revokedKeys": [revoked.body],
        "activeKeyLimit": MAX_ACTIVE_KEYS,
    }


def test_ten_concurrent_generates_make_exactly_five_keys(local: LocalApi, app: dict[str, str]) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(lambda i: generate(local, app, f"racer {i}"), range(10)))
    assert sorted(reply.status for reply in replies) == [201] * 5 + [409] * 5
    assert {reply.error_code for reply in replies if reply.status == 409} == {"key_limit_reached"}
    listed = admin(local, app, "GET").body
    assert {key["keyName"] for key in listed["activeKeys"]} == {r.body["keyName"] for r in replies if r.status == 201}


def test_a_revoked_key_frees_its_slot(local: LocalApi, app: dict[str, str]) -> None:
    names = [generate(local, app, f"key {i}").body["keyName"] for i in range(5)]
    assert generate(local, app, "sixth").error_code == "key_limit_reached"
    assert admin(local, app, "POST", names[2], "revoke").status == 200
    replacement = generate(local, app, "replacement")
    assert replacement.status == 201
    assert generate(local, app, "sixth again").error_code == "key_limit_reached"
    listed = admin(local, app, "GET").body
    assert listed["activeKeys"][0]["keyName"] == replacement.body["keyName"]  # newest first
    assert [key["keyName"] for key in listed["revokedKeys"]] == [names[2]]


def test_secrets_never_appear_in_the_list(local: LocalApi, app: dict[str, str]) -> None:
    names = [generate(local, app).body["keyName"] for _ in range(3)]
    shown = [admin(local, app, "POST", name, "reveal").body["secret"] for name in names]
    assert len(set(shown)) == 3
    admin(local, app, "POST", names[0], "revoke")
    listing = local.call("GET", keys(app), token=app["adminToken"])
    raw = listing.headers.get("Content-Length") and str(listing.body)
    assert raw and not any(secret in raw for secret in shown)
    assert "ciphertext" not in raw and "secret" not in raw


def test_admin_tokens_of_other_applications_are_forbidden(local: LocalApi, app: dict[str, str]) -> None:
    key_name = generate(local, app).body["keyName"]
    other = local.create_app("Other tenant")
    for method, rest in [("GET", ()), ("POST", ()), ("POST", (key_name, "reveal")), ("POST", (key_name, "revoke"))]:
        path = keys(app, *rest)
        body = {"description": "intruder"}
        assert local.call(method, path, json_body=body).status == 401
        assert local.call(method, path, json_body=body, token="csa_wrong").status == 401
        forbidden = local.call(method, path, json_body=body, token=other["adminToken"])
        assert (forbidden.status, forbidden.error_code) == (403, "forbidden")
    assert admin(local, app, "GET").body["activeKeys"][0]["status"] == "active"  # nothing changed


def test_unknown_keys_bad_bodies_and_wrong_methods(local: LocalApi, app: dict[str, str]) -> None:
    assert admin(local, app, "POST", "key_000000000000", "reveal").error_code == "key_not_found"
    assert admin(local, app, "POST", "key_000000000000", "revoke").status == 404
    assert admin(local, app, "POST", json_body={"description": ""}).error_code == "invalid_request"
    assert admin(local, app, "POST", data="not json").error_code == "invalid_json"
    assert admin(local, app, "POST", data="x" * (17 * 1024)).status == 413
    assert admin(local, app, "DELETE").status == 405
    assert admin(local, app, "GET", "key_000000000000", "reveal").status == 405
    assert admin(local, app, "GET", "key_000000000000").status == 404  # no such route
