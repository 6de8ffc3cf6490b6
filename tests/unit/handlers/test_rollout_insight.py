"""Rollout insight in-process (SPEC 3.5): what it writes, and what it costs the ingest path.

- lastUsedAt: at most one write per key per minute per container, counted on the layer's client;
- coverage counts ride on writes the ingest path makes anyway (the call budget of a warm events
  batch is unchanged), and a session start's count fails like its write does: 503, then retried;
- a dry-run writes nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from countersign import aws, container
from tests.support.tenant import CONFIRM, Tenant, partition_key
from tests.support.tokens import hs256_credentials, with_nonce
from tests.support.world import World


@pytest.fixture
def tenant(world: World) -> Tenant:
    created = Tenant(world)
    created.settings(useSignedMetadata=True)
    return created


@contextmanager
def dynamodb_writes() -> Iterator[Counter[str]]:
    """Count DynamoDB calls by operation and item kind (`UpdateItem USAGE`, `PutItem EVENT`, ...)."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def count(params: dict[str, Any], event_name: str, **_: Any) -> None:
        kind = partition_key(params).split("#", 1)[0]
        with lock:
            counts[f"{event_name.rsplit('.', 1)[1]} {kind}"] += 1

    client = aws.client("dynamodb")
    client.meta.events.register("before-parameter-build.dynamodb.*", count)
    try:
        yield counts
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.*", count)


def minute_of(moment: float) -> str:
    return datetime.fromtimestamp(moment // 60 * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def within_one_minute() -> str:
    """Wait, if needed, until at least 20 s of the current minute are left; return the minute."""
    left = 60 - time.time() % 60
    if left < 20:
        time.sleep(left + 0.05)
    return minute_of(time.time())


def signed(secret: str, key_name: str, **claims: Any) -> dict[str, str]:
    return hs256_credentials(with_nonce({"visitor": {"id": "v-1"}, **claims}), secret, key_name)


def last_used(tenant: Tenant) -> dict[str, str | None]:
    status, listed = tenant.admin("GET", "/keys")
    assert status == 200
    return {key["keyName"]: key["lastUsedAt"] for key in listed["activeKeys"] + listed["revokedKeys"]}


def used_in(tenant: Tenant, minute: str, *names: str) -> dict[str, str]:
    """lastUsedAt of keys used in `minute`: the minute, or the key's createdAt if it was created
    later in that minute (a last use is never shown before the key existed)."""
    status, listed = tenant.admin("GET", "/keys")
    assert status == 200
    created = {key["keyName"]: key["createdAt"] for key in listed["activeKeys"] + listed["revokedKeys"]}
    return {name: max(minute, created[name]) for name in names}


def test_last_use_is_written_at_most_once_per_key_per_minute_per_container(tenant: Tenant) -> None:
    (first, first_secret), (second, second_secret) = tenant.new_key(), tenant.new_key()
    assert last_used(tenant) == {first: None, second: None}
    minute = within_one_minute()
    with dynamodb_writes() as calls:
        sessions = [tenant.session(signed(first_secret, first))[1]["sessionId"] for _ in range(25)]
        for session_id in sessions[:10]:
            status, _ = tenant.sdk("PATCH", f"/sessions/{session_id}", signed(first_secret, first, plan="pro"))
            assert status == 200
        # 35 requests verified with one key in one minute: one last-use write.
        assert calls["UpdateItem USAGE"] == 1
        assert calls["PutItem SESSION"] == 25
        # One counter write per request: a session start's count, an update's rate-limit count.
        assert calls["UpdateItem STATS"] == 35

        tenant.session(signed(second_secret, second))
        tenant.session(signed(second_secret, second))
        assert calls["UpdateItem USAGE"] == 2  # another key has its own minute

    container.reset()  # another container has its own claims (and its own client)
    with dynamodb_writes() as calls:
        tenant.session(signed(first_secret, first))
        tenant.session(signed(first_secret, first))
        assert calls["UpdateItem USAGE"] == 1
    assert minute_of(time.time()) == minute, "the test took longer than it may"
    assert last_used(tenant) == used_in(tenant, minute, first, second)


@contextmanager
def failing(operation: str, kind: str) -> Iterator[list[str]]:
    """Refuse every DynamoDB `operation` on items of `kind` (throttling) while the block runs."""
    refused: list[str] = []

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if partition_key(params).startswith(kind + "#"):
            refused.append(partition_key(params))
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, operation)

    client = aws.client("dynamodb")
    client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", refuse)
    try:
        yield refused
    finally:
        client.meta.events.unregister(f"before-parameter-build.dynamodb.{operation}", refuse)


def coverage_of(tenant: Tenant) -> dict[str, Any]:
    status, body = tenant.admin("GET", "/coverage")
    assert status == 200, body
    return dict(body)


def test_a_session_whose_count_fails_is_a_503_and_the_retry_is_counted_once(tenant: Tenant) -> None:
    key_name, secret = tenant.new_key()
    body = signed(secret, key_name)
    with failing("UpdateItem", "STATS") as refused:
        status, answer = tenant.session(body)
    assert refused and (status, answer["error"]["code"]) == (503, "service_unavailable")
    assert tenant.session(body)[0] == 201  # the SDK's retry
    counted = coverage_of(tenant)
    assert counted["sessions"] == {"hs256": 1, "rs256": 0, "unsigned": 0}
    assert [(k["keyName"], k["sessions"]) for k in counted["keys"]] == [(key_name, 1)]


def test_a_failed_last_use_write_never_fails_the_request_and_is_tried_again(tenant: Tenant) -> None:
    key_name, secret = tenant.new_key()
    minute = within_one_minute()
    with failing("UpdateItem", "USAGE") as refused:
        status, _ = tenant.session(signed(secret, key_name))
    assert refused and status == 201
    assert last_used(tenant) == {key_name: None}
    with dynamodb_writes() as calls:
        assert tenant.session(signed(secret, key_name))[0] == 201
    assert calls["UpdateItem USAGE"] == 1  # the claim of the failed write was given back
    assert last_used(tenant) == used_in(tenant, minute, key_name)


def test_unsigned_sessions_write_no_last_use_and_events_add_no_call(tenant: Tenant) -> None:
    with dynamodb_writes() as calls:
        status, session = tenant.session({"metadata": {"visitor": {"id": "u-1"}}})
        assert status == 201
        batch = [{"type": "view", "timestamp": int(time.time() * 1000), "insertId": f"i-{i}"} for i in range(5)]
        assert tenant.events(session["sessionId"], batch)[1]["accepted"] == 5
    writes = Counter({name: n for name, n in calls.items() if name.startswith(("PutItem", "UpdateItem"))})
    assert writes == Counter({"PutItem SESSION": 1, "UpdateItem STATS": 2, "PutItem EVENT": 5, "PutItem RAW": 1})
    counted = coverage_of(tenant)
    assert (counted["sessions"]["unsigned"], counted["events"]["unsigned"]) == (1, 5)
    assert counted["wouldDrop"] == {"sessions": 1, "events": 5}


def test_a_dry_run_reads_the_settings_and_counters_and_writes_nothing(tenant: Tenant) -> None:
    assert tenant.session({"metadata": {"visitor": {"id": "u-1"}}})[0] == 201
    status, before = tenant.admin("GET", "/settings")
    with dynamodb_writes() as calls:
        status, answer = tenant.admin(
            "PATCH", "/settings", {"onlyAllowSignedMetadata": True, "dryRun": True, **CONFIRM}
        )
    assert status == 200, answer
    assert answer["impact"] == {"hours": 24, "wouldDrop": {"sessions": 1, "events": 0}}
    assert answer["settings"] == {
        **before,
        "onlyAllowSignedMetadata": True,
        "version": before["version"] + 1,
        "updatedAt": answer["settings"]["updatedAt"],
    }
    # The admin token and the settings read, the counter shards queried; the one write is the
    # request's own count for its application's rate limit (countersign.tenancy), never settings.
    assert set(calls) == {"GetItem ADMIN", "GetItem APP", "Query STATS", "UpdateItem STATS"}
    assert calls["UpdateItem STATS"] == 1
    assert tenant.admin("GET", "/settings")[1] == before


# a revocation's dry-run: what revoking a key would drop comes from the API -------------------------


def test_a_revoke_dry_run_answers_what_the_key_signed_and_revokes_nothing(tenant: Tenant) -> None:
    key_name, secret = tenant.new_key()
    other_name, other_secret = tenant.new_key()
    assert tenant.session(signed(secret, key_name))[0] == 201
    status, session = tenant.session(signed(secret, key_name))
    batch = [{"type": "view", "timestamp": int(time.time() * 1000), "insertId": f"i-{i}"} for i in range(3)]
    assert tenant.events(session["sessionId"], batch)[1]["accepted"] == 3
    assert tenant.session(signed(other_secret, other_name))[0] == 201

    with dynamodb_writes() as calls:
        status, answer = tenant.admin("POST", f"/keys/{key_name}/revoke", {"dryRun": True})
    assert status == 200, answer
    assert answer["dryRun"] is True
    assert answer["impact"] == {"hours": 24, "wouldDrop": {"sessions": 2, "events": 3}}
    assert answer["key"]["keyName"] == key_name and answer["key"]["status"] == "active"
    writes = {name: n for name, n in calls.items() if name.startswith(("Put", "Update", "Delete", "Transact"))}
    assert writes == {"UpdateItem STATS": 1}  # the admin request counted in its rate window, nothing else
    assert tenant.session(signed(secret, key_name))[0] == 201  # still active

    # The same answers as the revocation itself: unknown 404, already revoked 409.
    assert tenant.admin("POST", "/keys/key_000000000000/revoke", {"dryRun": True})[0] == 404
    assert tenant.admin("POST", f"/keys/{other_name}/revoke")[0] == 200
    status, again = tenant.admin("POST", f"/keys/{other_name}/revoke", {"dryRun": True})
    assert (status, again["error"]["code"]) == (409, "key_revoked")


@pytest.mark.parametrize("body", [{"dryRun": False}, {"dryRun": "true"}, {"ignored": True}, None])
def test_a_revoke_without_dry_run_true_revokes(tenant: Tenant, body: Any) -> None:
    key_name, _ = tenant.new_key()
    status, answer = tenant.admin("POST", f"/keys/{key_name}/revoke", body)
    assert (status, answer["status"]) == (200, "revoked"), answer


def test_the_keys_listing_carries_the_active_key_limit(tenant: Tenant) -> None:
    from countersign.keys import MAX_ACTIVE_KEYS

    status, listed = tenant.admin("GET", "/keys")
    assert (status, listed["activeKeyLimit"]) == (200, MAX_ACTIVE_KEYS)
    for _ in range(listed["activeKeyLimit"]):
        tenant.new_key()
    status, refused = tenant.admin("POST", "/keys", {"description": "one too many"})
    assert (status, refused["error"]["code"]) == (409, "key_limit_reached")
