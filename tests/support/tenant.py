"""One application driven through its own routes in-process, and a counter of the layer's AWS calls.

Shared by the in-process tests of the SDK routes (ingest, hostile tokens, fault injection).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from countersign import aws
from tests.support.world import World

CONFIRM = {"confirmation": "I understand"}


class Tenant:
    """One application driven through its own routes."""

    def __init__(self, world: World) -> None:
        self.world = world
        created = world.create_app()
        self.app_id, self.token = created["appId"], created["adminToken"]

    def admin(self, method: str, suffix: str, body: Any = None, query: str = "") -> tuple[int, Any]:
        return self.world.request(method, f"/v1/apps/{self.app_id}{suffix}", body=body, token=self.token, query=query)

    def sdk(self, method: str, suffix: str, body: Any) -> tuple[int, Any]:
        return self.world.request(method, f"/v1/apps/{self.app_id}{suffix}", body=body)

    def settings(self, **toggles: Any) -> None:
        status, body = self.admin("PATCH", "/settings", toggles)
        assert status == 200, body

    def new_key(self) -> tuple[str, str]:
        status, key = self.admin("POST", "/keys", {"description": "server"})
        assert status == 201, key
        status, revealed = self.admin("POST", f"/keys/{key['keyName']}/reveal")
        assert status == 200
        return key["keyName"], revealed["secret"]

    def save_jwks_uri(self, uri: str) -> None:
        """RS256 on, then test and save `uri` (SPEC 3.2), as an admin would."""
        self.settings(useRs256SignedMetadata=True)
        status, report = self.admin("POST", "/jwks-uri/test", {"uri": uri})
        assert status == 200, report
        status, saved = self.admin("PUT", "/jwks-uri", {"uri": uri})
        assert status == 200 and saved["jwksUri"] == uri, saved

    def session(self, body: dict[str, Any]) -> tuple[int, Any]:
        return self.sdk("POST", "/sessions", body)

    def events(self, session_id: str, events: list[dict[str, Any]]) -> tuple[int, Any]:
        return self.sdk("POST", "/events", {"sessionId": session_id, "events": events})

    def dropped(self) -> dict[str, int]:
        """Diagnostics' dropped counts by reason."""
        status, diagnostics = self.admin("GET", "/diagnostics")
        assert status == 200, diagnostics
        return dict(diagnostics["counts"]["dropped"])


@contextmanager
def aws_calls(*services: str) -> Iterator[Counter[str]]:
    """Count every botocore call the layer's clients make (service.Operation), concurrently safe."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def count(event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".")
        with lock:
            counts[f"{service}.{operation}"] += 1

    clients = [aws.client(service) for service in services]
    for client in clients:
        client.meta.events.register("before-call.*.*", count)
    try:
        yield counts
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", count)


def partition_key(params: dict[str, Any]) -> str:
    """The partition key a DynamoDB call's parameters address ("" for KMS and table-wide calls)."""
    for holder in (params.get("Item"), params.get("Key")):
        if holder and "pk" in holder:
            return str(holder["pk"]["S"])
    values = params.get("ExpressionAttributeValues") or {}
    return str(values[":pk"]["S"]) if ":pk" in values else ""
