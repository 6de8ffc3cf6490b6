"""Junk on the SDK routes is refused before it costs an AWS call (SPEC 3, 3.4).

DynamoDB refuses a key over 2048 bytes with a ValidationException, which the store would report as
an outage (503, retried by the SDK for ever); an application id no application can have is 404
before any read (`app_not_found`, or `session_not_found` where the route names a session). moto
does not enforce the key limit, so the test counts calls.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from countersign_dev.emulation import template as tpl
from countersign_dev.emulation.containers import LambdaContext
from countersign_dev.emulation.local_stack import proxy_event
from tests.support.tenant import aws_calls
from tests.support.world import World

# Each matches the resolver's path segment pattern, so the route runs with it as appId.
JUNK_APP_IDS = ["a" * 3000, "app_" + "0" * 61, "app_\u00e9t\u00e9", "app_%27%20OR%201%3D1", "app_ x", "app_(x)"]
SESSION_ID = "s_" + "x" * 32
SDK_REQUESTS = [
    ("POST", "/v1/apps/{appId}/sessions", {"metadata": {"visitor": {"id": "v"}}}, "app_not_found"),
    ("PATCH", "/v1/apps/{appId}/sessions/{sessionId}", {"metadata": {"visitor": {"id": "v"}}}, "session_not_found"),
    (
        "POST",
        "/v1/apps/{appId}/events",
        {"sessionId": SESSION_ID, "events": [{"type": "x", "timestamp": 1}]},
        "session_not_found",
    ),
]


def invoke(module_world: World, method: str, resource: str, app_id: str, body: Any) -> tuple[int, Any]:
    """The event API Gateway sends for `resource` with this application id in the path."""
    route = next(r for r in tpl.routes(module_world.template) if r.resource == resource and r.method == method)
    params = {"appId": app_id, "sessionId": SESSION_ID}
    path = resource.format(**params)
    headers = [("Content-Type", "application/json")]
    event = proxy_event(route, method, path, "", headers, json.dumps(body).encode(), {}, "198.51.100.7")
    event["pathParameters"] = {name: value for name, value in params.items() if "{" + name + "}" in resource}
    response = module_world.handler(route.function)(event, LambdaContext(route.function))
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("app_id", JUNK_APP_IDS, ids=range(len(JUNK_APP_IDS)))
def test_a_junk_application_id_is_404_without_any_aws_call(module_world: World, app_id: str) -> None:
    for method, resource, body, code in SDK_REQUESTS:
        invoke(module_world, method, resource, "app_0000000000000000", body)  # a warm container
        with aws_calls("dynamodb", "kms") as calls:
            status, answer = invoke(module_world, method, resource, app_id, body)
        assert (status, answer["error"]["code"]) == (404, code), (method, resource, answer)
        assert sum(calls.values()) == 0, calls


def test_a_well_formed_unknown_application_id_is_one_cached_read(module_world: World) -> None:
    with aws_calls("dynamodb") as calls:
        for _ in range(3):
            status, answer = invoke(
                module_world, "POST", "/v1/apps/{appId}/sessions", "app_00000000deadbeef", {"metadata": {}}
            )
            assert (status, answer["error"]["code"]) == (404, "app_not_found")
    assert calls == {"dynamodb.GetItem": 1}
