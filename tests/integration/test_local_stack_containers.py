"""The local stack runs each function container as its own OS process, as Lambda does.

A process serves one request at a time, so no module or class state (Powertools keeps the current
event on a class attribute of the resolver) can carry one request's body into another's answer.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.local import LocalApi, Reply

CLIENTS = 16
ROUNDS = 3


def settings_path(app: dict[str, str]) -> str:
    return f"/v1/apps/{app['appId']}/settings"


def burst(local: LocalApi, requests: list[dict[str, Any]]) -> list[Reply]:
    """Send every request at once (a barrier releases all the clients together)."""
    start = threading.Barrier(len(requests))

    def send(request: dict[str, Any]) -> Reply:
        start.wait(timeout=30)
        return local.call("PATCH", request["path"], json_body=request["body"], token=request.get("token"))

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def test_a_refused_request_body_never_reaches_a_concurrent_request(local: LocalApi, app: dict[str, str]) -> None:
    """The issue's repro: tokenless PATCHes are refused, and their body must not land anywhere."""
    for round_ in range(ROUNDS):
        requests = [
            {"path": settings_path(app), "body": {"useSignedMetadata": i % 4 == 0}, "token": app["adminToken"]}
            if i % 2 == 0
            else {"path": settings_path(app), "body": {"useRs256SignedMetadata": True}}
            for i in range(CLIENTS)
        ]
        replies = burst(local, requests)
        for request, reply in zip(requests, replies, strict=True):
            if "token" in request:
                assert reply.status == 200, reply.body
                assert reply.body["useRs256SignedMetadata"] is False, f"round {round_}: {reply.body}"
            else:
                assert (reply.status, reply.error_code) == (401, "unauthorized"), reply.body
        final = local.call("GET", settings_path(app), token=app["adminToken"]).body
        assert final["useRs256SignedMetadata"] is False, f"round {round_}: a refused body was applied: {final}"


def test_another_tenants_body_never_lands_on_an_application(local: LocalApi) -> None:
    mine, theirs = local.create_app("mine"), local.create_app("theirs")
    for round_ in range(ROUNDS):
        mine_request = {"path": settings_path(mine), "token": mine["adminToken"]}
        theirs_request = {"path": settings_path(theirs), "token": theirs["adminToken"]}
        requests = [
            {**mine_request, "body": {"useSignedMetadata": i % 4 == 0}}
            if i % 2 == 0
            else {**theirs_request, "body": {"useRs256SignedMetadata": True}}
            for i in range(CLIENTS)
        ]
        replies = burst(local, requests)
        for request, reply in zip(requests, replies, strict=True):
            assert reply.status == 200, reply.body
            expected_rs256 = request["path"] == settings_path(theirs)
            assert reply.body["useRs256SignedMetadata"] is expected_rs256, f"round {round_}: {reply.body}"
        final = local.call("GET", settings_path(mine), token=mine["adminToken"]).body
        assert final["useRs256SignedMetadata"] is False, f"round {round_}: another tenant's body was applied: {final}"
        assert final["version"] == 1 + (round_ + 1) * CLIENTS // 2
