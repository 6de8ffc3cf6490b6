"""The keys function end to end on moto, invoked with API Gateway events as `sam local invoke` would."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from countersign import envelope
from countersign.keys import MAX_ACTIVE_KEYS
from countersign.store.keys import KeyStore
from countersign_dev.emulation import template as tpl
from countersign_dev.emulation.containers import LambdaContext
from countersign_dev.emulation.local_stack import proxy_event
from tests.support.world import EXAMPLE_ADMIN_TOKEN, EXAMPLE_APP_ID, EXAMPLE_KEY_NAME, EXAMPLE_SECRET, World

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def app(world: World) -> dict[str, str]:
    """A fresh application (as the integration tests' `app`), created as an operator would."""
    return world.create_app("Keys tenant")


def keys_path(app: dict[str, str], *rest: str) -> str:
    return "/".join([f"/v1/apps/{app['appId']}/keys", *rest])


def generate(world: World, app: dict[str, str], description: str = "Server") -> tuple[int, Any]:
    return world.request("POST", keys_path(app), body={"description": description}, token=app["adminToken"])


def call(world: World, app: dict[str, str], method: str, *rest: str, **kwargs: Any) -> tuple[int, Any]:
    return world.request(method, keys_path(app, *rest), token=app["adminToken"], **kwargs)


@contextmanager
def function_logs() -> Iterator[io.StringIO]:
    """What the functions' Powertools logger writes meanwhile (it keeps the stdout it started with)."""
    # Imported here, after a handler import gave it the function's environment (as on Lambda).
    from countersign.observability import logger

    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        yield stream
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[arg-type]


def raw_response(world: World, method: str, path: str, token: str, body: bytes = b"") -> dict[str, Any]:
    """The handler's whole proxy response (headers included) for one request."""
    for route in tpl.routes(world.template):
        params = route.match(path)
        if params is not None and route.method in (method, "ANY"):
            headers = [("Authorization", f"Bearer {token}")]
            event = proxy_event(route, method, path, "", headers, body, params, "198.51.100.7")
            return world.handler(route.function)(event, LambdaContext(route.function))
    raise LookupError(path)


# generate ----------------------------------------------------------------------------------------


def test_generate_answers_201_with_the_key_object_and_no_secret(world: World, app: dict[str, str]) -> None:
    status, key = generate(world, app, "  Production web server \n")
    assert status == 201
    assert set(key) == {"keyName", "description", "status", "createdAt", "revokedAt", "lastUsedAt"}
    assert re.fullmatch(r"key_[0-9a-f]{12}", key["keyName"])
    assert (key["description"], key["status"], key["revokedAt"]) == ("Production web server", "active", None)
    assert TIMESTAMP.fullmatch(key["createdAt"])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_request"),
        ({"description": ""}, "invalid_request"),
        ({"description": "    "}, "invalid_request"),
        ({"description": "x" * 201}, "invalid_request"),
        ({"description": 12}, "invalid_request"),
        ({"description": "ok", "name": "mine"}, "invalid_request"),
        (["description"], "invalid_json"),
        ("description", "invalid_json"),
    ],
)
def test_generate_refuses_bad_bodies(world: World, app: dict[str, str], body: Any, code: str) -> None:
    status, answer = call(world, app, "POST", body=body)
    assert (status, answer["error"]["code"]) == (400, code)
    assert call(world, app, "GET")[1] == {"activeKeys": [], "revokedKeys": [], "activeKeyLimit": MAX_ACTIVE_KEYS}


@pytest.mark.parametrize("raw", [b"", b"{", b"{'description': 'x'}", b'{"description": NaN}'])
def test_generate_needs_a_json_object(world: World, app: dict[str, str], raw: bytes) -> None:
    status, answer = call(world, app, "POST", raw_body=raw)
    assert (status, answer["error"]["code"]) == (400, "invalid_json")


def test_generate_refuses_bodies_over_the_admin_limit(world: World, app: dict[str, str]) -> None:
    status, answer = call(world, app, "POST", body={"description": "x" * (17 * 1024)})
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")


# the five-key limit ------------------------------------------------------------------------------


def test_five_active_keys_at_most_and_a_revoked_key_frees_its_slot(world: World, app: dict[str, str]) -> None:
    names = []
    for index in range(5):
        status, key = generate(world, app, f"key {index}")
        assert status == 201
        names.append(key["keyName"])
    status, refused = generate(world, app, "sixth")
    assert (status, refused["error"]["code"]) == (409, "key_limit_reached")

    assert call(world, app, "POST", names[0], "revoke")[0] == 200
    status, _ = generate(world, app, "replacement")
    assert status == 201
    assert generate(world, app, "seventh")[1]["error"]["code"] == "key_limit_reached"

    listed = call(world, app, "GET")[1]
    assert len(listed["activeKeys"]) == 5
    assert [key["keyName"] for key in listed["revokedKeys"]] == [names[0]]
    assert KeyStore(world.control_table, world.dynamodb).active_key_count(app["appId"]) == 5


def test_the_limit_is_per_application(world: World, app: dict[str, str]) -> None:
    for _ in range(5):
        assert generate(world, app)[0] == 201
    other = world.create_app("Other app")
    assert generate(world, other)[0] == 201


def test_a_refused_generate_does_not_call_kms_twice_or_leave_anything(
    world: World, app: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        generate(world, app)
    before = call(world, app, "GET")[1]
    assert generate(world, app)[0] == 409
    assert call(world, app, "GET")[1] == before


# list --------------------------------------------------------------------------------------------


def test_list_orders_active_newest_first_and_revoked_by_revocation(world: World, app: dict[str, str]) -> None:
    names = [generate(world, app, f"key {index}")[1]["keyName"] for index in range(4)]
    call(world, app, "POST", names[2], "revoke")
    call(world, app, "POST", names[0], "revoke")
    listed = call(world, app, "GET")[1]
    assert [key["keyName"] for key in listed["activeKeys"]] == [names[3], names[1]]
    assert [key["keyName"] for key in listed["revokedKeys"]] == [names[0], names[2]]
    assert all(key["status"] == "active" and key["revokedAt"] is None for key in listed["activeKeys"])
    assert all(key["status"] == "revoked" and TIMESTAMP.fullmatch(key["revokedAt"]) for key in listed["revokedKeys"])


def test_list_never_shows_a_secret_and_never_calls_kms(
    world: World, app: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [generate(world, app)[1]["keyName"] for _ in range(3)]
    secrets_shown = [call(world, app, "POST", name, "reveal")[1]["secret"] for name in names]
    call(world, app, "POST", names[0], "revoke")

    def no_kms() -> Any:
        raise AssertionError("listing keys must not touch KMS")

    monkeypatch.setattr(envelope, "_kms", no_kms)
    response = raw_response(world, "GET", keys_path(app), app["adminToken"])
    assert response["statusCode"] == 200
    for secret in secrets_shown:
        assert secret not in response["body"]
    listing = json.loads(response["body"])
    assert listing.keys() == {"activeKeys", "revokedKeys", "activeKeyLimit"}
    for listed in (listing["activeKeys"], listing["revokedKeys"]):
        fields = {"keyName", "description", "status", "createdAt", "revokedAt", "lastUsedAt"}
        assert all(set(key) == fields for key in listed)


# reveal ------------------------------------------------------------------------------------------


def test_reveal_shows_the_same_secret_every_time_and_not_to_caches(world: World, app: dict[str, str]) -> None:
    name = generate(world, app)[1]["keyName"]
    status, revealed = call(world, app, "POST", name, "reveal")
    assert status == 200
    assert set(revealed) == {"keyName", "secret"}
    assert revealed["keyName"] == name
    assert re.fullmatch(r"css_[A-Za-z0-9_-]{43}", revealed["secret"])
    assert call(world, app, "POST", name, "reveal")[1] == revealed
    response = raw_response(world, "POST", keys_path(app, name, "reveal"), app["adminToken"])
    assert response["multiValueHeaders"]["Cache-Control"] == ["no-store"]


def test_every_key_has_its_own_secret(world: World, app: dict[str, str]) -> None:
    names = [generate(world, app)[1]["keyName"] for _ in range(5)]
    shown = {call(world, app, "POST", name, "reveal")[1]["secret"] for name in names}
    assert len(shown) == 5


def test_reveal_ignores_a_body(world: World, app: dict[str, str]) -> None:
    name = generate(world, app)[1]["keyName"]
    assert call(world, app, "POST", name, "reveal", raw_body=b"not json at all")[0] == 200
    assert call(world, app, "POST", name, "reveal", body={"keyName": "key_other"})[1]["keyName"] == name


@pytest.mark.parametrize("name", ["key_000000000000", "key_unknown", "x" * 129, "key%20a", "..", "KEY_0123456789AB"])
def test_reveal_of_an_unknown_key_is_404(world: World, app: dict[str, str], name: str) -> None:
    status, answer = call(world, app, "POST", name, "reveal")
    assert (status, answer["error"]["code"]) == (404, "key_not_found")


def test_reveal_of_a_revoked_key_is_409(world: World, app: dict[str, str]) -> None:
    name = generate(world, app)[1]["keyName"]
    call(world, app, "POST", name, "revoke")
    status, answer = call(world, app, "POST", name, "reveal")
    assert (status, answer["error"]["code"]) == (409, "key_revoked")


def test_a_key_name_of_another_application_is_unknown_here(world: World, app: dict[str, str]) -> None:
    other = world.create_app("Other app")
    theirs = generate(world, other)[1]["keyName"]
    assert call(world, app, "POST", theirs, "reveal")[1]["error"]["code"] == "key_not_found"
    assert call(world, app, "POST", theirs, "revoke")[1]["error"]["code"] == "key_not_found"
    assert call(world, other, "POST", theirs, "reveal")[0] == 200


# envelope binding through the API ---------------------------------------------------------------


def copy_key_item(world: World, source: tuple[str, str], target: tuple[str, str]) -> None:
    """Copy a key's stored item (ciphertext included) to another application or key name."""
    item = world.dynamodb.get_item(
        TableName=world.control_table, Key={"pk": {"S": f"APP#{source[0]}"}, "sk": {"S": f"KEY#{source[1]}"}}
    )["Item"]
    item.update({"pk": {"S": f"APP#{target[0]}"}, "sk": {"S": f"KEY#{target[1]}"}})
    world.dynamodb.put_item(TableName=world.control_table, Item=item)


@pytest.mark.parametrize("elsewhere", ["other app", "other key name"])
def test_a_ciphertext_copied_elsewhere_cannot_be_revealed(
    world: World, app: dict[str, str], elsewhere: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = generate(world, app)[1]["keyName"]
    secret = call(world, app, "POST", name, "reveal")[1]["secret"]
    thief = world.create_app("Thief") if elsewhere == "other app" else app
    target_name = name if elsewhere == "other app" else "key_copied000000"
    copy_key_item(world, (app["appId"], name), (thief["appId"], target_name))

    with function_logs() as stream:
        status, answer = call(world, thief, "POST", target_name, "reveal")
    assert (status, answer["error"]["code"]) == (500, "key_unreadable")
    assert "does not decrypt" in caplog.text
    assert secret not in json.dumps(answer) + stream.getvalue() + caplog.text
    assert call(world, app, "POST", name, "reveal")[1]["secret"] == secret  # the original still opens


# revoke ------------------------------------------------------------------------------------------


def test_revoke_answers_the_revoked_key_and_is_permanent(world: World, app: dict[str, str]) -> None:
    created = generate(world, app, "Old server")[1]
    status, revoked = call(world, app, "POST", created["keyName"], "revoke", body={"ignored": True})
    assert status == 200
    assert revoked == {**created, "status": "revoked", "revokedAt": revoked["revokedAt"]}
    assert TIMESTAMP.fullmatch(revoked["revokedAt"])

    status, again = call(world, app, "POST", created["keyName"], "revoke")
    assert (status, again["error"]["code"]) == (409, "key_revoked")
    assert call(world, app, "GET")[1]["revokedKeys"] == [revoked]  # first revocation time kept


def test_revoke_of_an_unknown_key_is_404(world: World, app: dict[str, str]) -> None:
    status, answer = call(world, app, "POST", "key_000000000000", "revoke")
    assert (status, answer["error"]["code"]) == (404, "key_not_found")


# authorization, methods ---------------------------------------------------------------------------


ROUTES = [("GET", ()), ("POST", ()), ("POST", ("key_0123456789ab", "reveal")), ("POST", ("key_0123456789ab", "revoke"))]


@pytest.mark.parametrize(("method", "rest"), ROUTES)
def test_every_route_needs_the_applications_admin_token(
    world: World, app: dict[str, str], method: str, rest: tuple[str, ...]
) -> None:
    path = keys_path(app, *rest)
    body = {"description": "x"}
    assert world.request(method, path, body=body)[1]["error"]["code"] == "unauthorized"
    assert world.request(method, path, body=body, token="csa_not-a-real-token")[0] == 401
    other = world.create_app("Other app")
    status, answer = world.request(method, path, body=body, token=other["adminToken"])
    assert (status, answer["error"]["code"]) == (403, "forbidden")
    unknown_app = path.replace(app["appId"], "app_ffffffffffffffff")
    assert world.request(method, unknown_app, body=body)[0] == 401
    assert call(world, app, "GET")[1] == {"activeKeys": [], "revokedKeys": [], "activeKeyLimit": MAX_ACTIVE_KEYS}


@pytest.mark.parametrize(
    ("method", "rest"),
    [
        ("DELETE", ()),
        ("PUT", ()),
        ("PATCH", ()),
        ("GET", ("key_0123456789ab", "reveal")),
        ("DELETE", ("key_0", "revoke")),
    ],
)
def test_wrong_methods_are_405(world: World, app: dict[str, str], method: str, rest: tuple[str, ...]) -> None:
    status, answer = call(world, app, method, *rest)
    assert (status, answer["error"]["code"]) == (405, "method_not_allowed")


# the example application of events/ ---------------------------------------------------------------


def test_the_example_app_has_the_documented_key(world: World) -> None:
    world.seed_example_app()
    path = f"/v1/apps/{EXAMPLE_APP_ID}/keys/{EXAMPLE_KEY_NAME}/reveal"
    assert world.request("POST", path, token=EXAMPLE_ADMIN_TOKEN) == (
        200,
        {"keyName": EXAMPLE_KEY_NAME, "secret": EXAMPLE_SECRET},
    )


# audit: logs and metrics -------------------------------------------------------------------------


def test_generate_reveal_and_revoke_are_logged_and_counted_without_the_secret(
    world: World, app: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with function_logs() as stream:
        name = generate(world, app)[1]["keyName"]
        secret = call(world, app, "POST", name, "reveal")[1]["secret"]
        call(world, app, "POST", name, "revoke")
    logged = stream.getvalue()
    metrics_printed = capsys.readouterr().out
    assert secret not in logged and secret not in metrics_printed

    audit = [json.loads(line) for line in logged.splitlines() if "signing key action" in line]
    assert [line["action"] for line in audit] == ["generate", "reveal", "revoke"]
    for line in audit:
        assert (line["app_id"], line["key_name"]) == (app["appId"], name)
        assert line["correlation_id"]  # the API Gateway request id
    for metric in ("KeyCreated", "KeyRevealed", "KeyRevoked"):
        assert f'"{metric}":[1.0]' in metrics_printed
