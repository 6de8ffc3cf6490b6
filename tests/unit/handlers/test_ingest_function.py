"""The ingest and reporting functions in-process on mock_aws (SPEC 3.3, 3.4)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from botocore.exceptions import ClientError

from countersign import aws, container, events, strict_json
from countersign.config import get_config
from tests.support.tenant import CONFIRM, Tenant, aws_calls
from tests.support.tokens import hs256_credentials, hs256_token, rs256_token, with_nonce
from tests.support.world import World

#: The deepest event a body under the SDK routes' depth guard can hold (body, events list, event).
MAX_EVENT_DEPTH_IN_GUARD = strict_json.SDK_BODY_DEPTH_GUARD - 2


def hs256(secret: str, claims: dict[str, Any]) -> str:
    return hs256_token(with_nonce(claims), secret)


def now_ms() -> int:
    return int(time.time() * 1000)


def events_of(count: int, prefix: str = "e") -> list[dict[str, Any]]:
    return [{"type": "view", "timestamp": now_ms(), "insertId": f"{prefix}-{i}"} for i in range(count)]


def unsigned(visitor: str = "v-1", account: str = "a-1") -> dict[str, Any]:
    return {"metadata": {"visitor": {"id": visitor, "plan": "free"}, "account": {"id": account}}}


@pytest.fixture
def tenant(world: World) -> Tenant:
    return Tenant(world)


def stored_events(world: World) -> int:
    items = world.dynamodb.scan(TableName=world.data_table)["Items"]
    return sum(1 for item in items if item["pk"]["S"].startswith("EVENT#"))


def test_unsigned_session_events_and_raw_events(tenant: Tenant) -> None:
    status, session = tenant.session(unsigned())
    assert status == 201
    assert session["signed"] is None and session["visitorId"] == "v-1" and session["accountId"] == "a-1"
    assert session["sessionId"].startswith("s_") and len(session["sessionId"]) >= 2 + 32
    status, answer = tenant.events(session["sessionId"], events_of(3))
    assert (status, answer) == (200, {"accepted": 3, "duplicates": 0, "rejected": []})
    status, raw = tenant.admin("GET", "/raw-events")
    assert status == 200 and raw["count"] == 3
    assert {e["insertId"] for e in raw["events"]} == {"e-0", "e-1", "e-2"}
    assert all(e["verification"] == {"mode": "unsigned"} and e["visitorId"] == "v-1" for e in raw["events"])


def test_hs256_session_is_verified_by_key_name(tenant: Tenant) -> None:
    tenant.settings(useSignedMetadata=True)
    key_name, secret = tenant.new_key()
    token = hs256(secret, {"visitor": {"id": "v-9", "email": "x@example.com"}, "account": {"id": "acme"}})
    status, session = tenant.session({"jwt": token, "signingKeyName": key_name})
    assert status == 201 and session["signed"] == "hs256" and session["visitorId"] == "v-9"
    assert tenant.events(session["sessionId"], events_of(2))[1]["accepted"] == 2
    status, raw = tenant.admin("GET", "/raw-events", query="visitorId=v-9&limit=5")
    assert raw["count"] == 2
    assert raw["events"][0]["verification"] == {"mode": "hs256", "keyName": key_name}
    assert tenant.admin("GET", "/raw-events", query="visitorId=nobody")[1]["count"] == 0


def test_anonymous_visitor_gets_a_random_id(tenant: Tenant) -> None:
    first = tenant.session({"metadata": {"visitor": {"id": ""}}})[1]
    second = tenant.session({"metadata": {"account": {"id": "a"}}})[1]
    assert first["visitorId"].startswith("anon-") and second["visitorId"].startswith("anon-")
    assert first["visitorId"] != second["visitorId"]


@pytest.mark.parametrize(
    ("settings", "body_kind", "status", "code"),
    [
        (
            {"useSignedMetadata": True, "onlyAllowSignedMetadata": True, **CONFIRM},
            "unsigned",
            403,
            "unsigned_metadata_rejected",
        ),
        ({}, "hs256", 403, "signed_metadata_disabled"),
        ({"useSignedMetadata": True}, "unknown-key", 401, "unknown_signing_key"),
        ({"useSignedMetadata": True}, "bad-signature", 401, "invalid_signature"),
        ({"useSignedMetadata": True}, "alg-none", 401, "unsupported_token"),
        ({"useSignedMetadata": True}, "no-nonce", 400, "missing_nonce"),
        ({"useSignedMetadata": True}, "numeric-id", 400, "invalid_claims"),
        ({}, "rs256", 403, "rs256_not_configured"),
    ],
)
def test_drops_answer_their_code_and_are_counted(
    tenant: Tenant, settings: dict[str, Any], body_kind: str, status: int, code: str
) -> None:
    key_name, secret = tenant.new_key()
    if settings:
        tenant.settings(**settings)
    claims = {"visitor": {"id": "v"}, "account": {"id": "a"}}
    bodies = {
        "unsigned": unsigned(),
        "hs256": {"jwt": hs256(secret, claims), "signingKeyName": key_name},
        "unknown-key": {"jwt": hs256(secret, claims), "signingKeyName": "key_doesnotexist"},
        "bad-signature": {
            "jwt": hs256("another secret entirely, long enough for HS256", claims),
            "signingKeyName": key_name,
        },
        "alg-none": {"jwt": jwt.encode({"nonce": "n", **claims}, None, algorithm="none"), "signingKeyName": key_name},
        "no-nonce": hs256_credentials(claims, secret, key_name),
        "numeric-id": {"jwt": hs256(secret, {"visitor": {"id": 42}}), "signingKeyName": key_name},
        "rs256": {"jwt": rs256_token({"nonce": "n", **claims}, _rsa_key(), kid="k")},
    }
    answer_status, answer = tenant.session(bodies[body_kind])
    assert (answer_status, answer["error"]["code"]) == (status, code)
    diagnostics = tenant.admin("GET", "/diagnostics")[1]
    assert diagnostics["counts"]["dropped"] == {code: 1}
    drop = diagnostics["recentDrops"][0]
    assert drop["reason"] == code and drop["route"] == "sessions"
    assert "jwt" not in drop and "metadata" not in drop and secret not in str(diagnostics)


def test_revoked_key_and_toggles_stop_a_running_session(world: World, tenant: Tenant) -> None:
    tenant.settings(useSignedMetadata=True)
    key_name, secret = tenant.new_key()
    token = hs256(secret, {"visitor": {"id": "v"}})
    session = tenant.session({"jwt": token, "signingKeyName": key_name})[1]
    assert tenant.events(session["sessionId"], events_of(1, "a"))[0] == 200
    assert tenant.admin("POST", f"/keys/{key_name}/revoke")[0] == 200
    container.reset()  # the documented cache bound has passed (the integration test measures it)
    status, answer = tenant.events(session["sessionId"], events_of(4, "b"))
    assert (status, answer["error"]["code"]) == (401, "revoked_signing_key")
    assert tenant.admin("GET", "/diagnostics")[1]["counts"]["dropped"] == {"revoked_signing_key": 4}

    unsigned_session = tenant.session(unsigned())[1]
    tenant.settings(onlyAllowSignedMetadata=True, **CONFIRM)
    container.reset()
    status, answer = tenant.events(unsigned_session["sessionId"], events_of(1, "c"))
    assert (status, answer["error"]["code"]) == (403, "unsigned_metadata_rejected")


def test_sessions_are_bound_to_their_application(world: World, tenant: Tenant) -> None:
    other = Tenant(world)
    session = other.session(unsigned())[1]
    for session_id in (session["sessionId"], "s_unknown", "x" * 5000, ""):
        status, answer = tenant.events(session_id, events_of(1))
        assert (status, answer["error"]["code"]) == (404, "session_not_found")
    assert tenant.sdk("PATCH", f"/sessions/{session['sessionId']}", {"metadata": {"visitor": {"id": "v-1"}}})[0] == 404


def test_session_ends_at_exp(tenant: Tenant) -> None:
    tenant.settings(useSignedMetadata=True)
    key_name, secret = tenant.new_key()
    exp = int(time.time()) + 600
    token = hs256(secret, {"visitor": {"id": "v"}, "exp": exp})
    session = tenant.session({"jwt": token, "signingKeyName": key_name})[1]
    assert session["expiresAt"] == datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    expired = hs256(secret, {"visitor": {"id": "v"}, "exp": int(time.time()) - 120})
    assert tenant.session({"jwt": expired, "signingKeyName": key_name})[1]["error"]["code"] == "token_expired"


def test_a_session_never_starts_already_ended(tenant: Tenant) -> None:
    """A token accepted only thanks to the 60 s leeway (exp 30 s ago) gives a session that ends when
    the leeway does: usable, not a 201 whose first batch is 404 (an SDK would loop on it)."""
    tenant.settings(useSignedMetadata=True)
    key_name, secret = tenant.new_key()
    exp = int(time.time()) - 30
    status, session = tenant.session(
        {"jwt": hs256(secret, {"visitor": {"id": "v"}, "exp": exp}), "signingKeyName": key_name}
    )
    assert status == 201
    assert session["expiresAt"] == datetime.fromtimestamp(exp + 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, answer = tenant.events(session["sessionId"], events_of(1))
    assert (status, answer["accepted"]) == (200, 1)


def test_metadata_updates(tenant: Tenant) -> None:
    session = tenant.session(unsigned("v-1", "a-1"))[1]
    path = f"/sessions/{session['sessionId']}"
    status, updated = tenant.sdk("PATCH", path, {"metadata": {"visitor": {"id": "v-1", "plan": "pro"}}})
    assert status == 200 and updated["visitor"] == {"plan": "pro"}
    status, updated = tenant.sdk("PATCH", path, {"metadata": {"account": {"id": "a-1", "seats": 5}}})
    assert status == 200 and updated["account"] == {"seats": 5} and updated["visitor"] == {"plan": "pro"}
    assert (
        tenant.sdk("PATCH", path, {"metadata": {"visitor": {"id": "v-2"}}})[1]["error"]["code"] == "identity_mismatch"
    )
    both = {"metadata": {"visitor": {"id": "v-1"}, "account": {"id": "a-1"}}}
    assert tenant.sdk("PATCH", path, both)[1]["error"]["code"] == "invalid_claims"


def test_dedupe_by_insert_id_content_and_within_a_batch(world: World, tenant: Tenant) -> None:
    session = tenant.session(unsigned())[1]["sessionId"]
    stamp = now_ms()
    first = [
        {"type": "click", "timestamp": stamp, "insertId": "i-1"},
        {"type": "click", "timestamp": stamp, "properties": {"x": 1}},
        {"type": "click", "timestamp": stamp, "properties": {"x": 1}},  # the same content again
    ]
    assert tenant.events(session, first)[1] == {"accepted": 2, "duplicates": 1, "rejected": []}
    again = [
        {"type": "other", "timestamp": stamp + 5, "insertId": "i-1"},  # same insertId, other content
        {"type": "click", "timestamp": stamp, "properties": {"x": 1}},
        {"type": "click", "timestamp": stamp, "properties": {"x": 2}},
        {"type": "", "timestamp": stamp},
    ]
    answer = tenant.events(session, again)[1]
    assert answer["accepted"] == 1 and answer["duplicates"] == 2
    assert answer["rejected"] == [{"index": 3, "code": "invalid_event", "message": answer["rejected"][0]["message"]}]
    assert stored_events(world) == 3
    assert tenant.admin("GET", "/diagnostics")[1]["counts"] == {
        "accepted": 3,
        "duplicates": 3,
        "rejected": {"invalid_event": 1},
        "dropped": {},
    }


@pytest.mark.parametrize("batch_size", [10, 100])
def test_warm_events_request_costs_one_write_per_event_and_no_reads_or_kms(tenant: Tenant, batch_size: int) -> None:
    tenant.settings(useSignedMetadata=True)
    key_name, secret = tenant.new_key()
    session = tenant.session({"jwt": hs256(secret, {"visitor": {"id": "v"}}), "signingKeyName": key_name})[1]
    tenant.events(session["sessionId"], events_of(1, "warm-up"))  # the container is now warm
    with aws_calls("dynamodb", "kms") as calls:
        answer = tenant.events(session["sessionId"], events_of(batch_size, f"b{batch_size}"))[1]
    assert answer["accepted"] == batch_size
    assert calls["dynamodb.PutItem"] == batch_size + 1  # one per event, one receipt
    assert calls["dynamodb.UpdateItem"] == 1  # the counters
    assert sum(calls.values()) == batch_size + 2
    assert not any(name.startswith("kms.") for name in calls)


def test_dependency_failure_mid_batch_is_503_and_the_retry_stores_each_event_once(world: World, tenant: Tenant) -> None:
    session = tenant.session(unsigned())[1]["sessionId"]
    batch = events_of(20, "f")
    client = aws.client("dynamodb")
    calls = {"n": 0}
    lock = threading.Lock()

    def throttle_the_seventh_put(**_: Any) -> None:
        with lock:
            calls["n"] += 1
            if calls["n"] == 7:
                raise ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem"
                )

    client.meta.events.register("before-call.dynamodb.PutItem", throttle_the_seventh_put)
    try:
        response = world.invoke_raw("POST", f"/v1/apps/{tenant.app_id}/events", {"sessionId": session, "events": batch})
    finally:
        client.meta.events.unregister("before-call.dynamodb.PutItem", throttle_the_seventh_put)
    assert response["statusCode"] == 503
    assert response["multiValueHeaders"]["Retry-After"] == ["1"]
    assert 0 < stored_events(world) < 20
    assert tenant.admin("GET", "/raw-events", query="limit=100")[1]["count"] == 0  # nothing half-visible

    status, answer = tenant.events(session, batch)
    assert status == 200
    assert answer["accepted"] + answer["duplicates"] == 20
    assert stored_events(world) == 20
    raw = tenant.admin("GET", "/raw-events", query="limit=100")[1]
    assert sorted(e["insertId"] for e in raw["events"]) == sorted(e["insertId"] for e in batch)


def test_kms_failure_on_session_start_is_503_not_a_drop(world: World, tenant: Tenant) -> None:
    tenant.settings(useSignedMetadata=True)
    key_name, secret = tenant.new_key()
    container.reset()  # cold: the secret must be decrypted
    token = hs256(secret, {"visitor": {"id": "v"}})
    kms = aws.client("kms")

    def outage(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "KMSInternalException", "Message": "down"}}, "Decrypt")

    kms.meta.events.register("before-call.kms.Decrypt", outage)
    try:
        status, answer = tenant.session({"jwt": token, "signingKeyName": key_name})
    finally:
        kms.meta.events.unregister("before-call.kms.Decrypt", outage)
    assert (status, answer["error"]["code"]) == (503, "service_unavailable")
    assert tenant.admin("GET", "/diagnostics")[1]["counts"]["dropped"] == {}
    assert tenant.session({"jwt": token, "signingKeyName": key_name})[0] == 201


def _rsa_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_updates_cannot_grow_metadata_past_the_session_start_limit(tenant: Tenant) -> None:
    from countersign.claims import MAX_METADATA_BYTES

    session = tenant.session(unsigned("v-1", "a-1"))[1]
    path = f"/sessions/{session['sessionId']}"
    half = "x" * (MAX_METADATA_BYTES // 2 + 100)
    assert tenant.sdk("PATCH", path, {"metadata": {"visitor": {"id": "v-1", "a": half}}})[0] == 200
    status, answer = tenant.sdk("PATCH", path, {"metadata": {"visitor": {"id": "v-1", "b": half}}})
    assert (status, answer["error"]["code"]) == (400, "invalid_claims")
    # The account side has its own allowance; the refused update changed nothing.
    assert tenant.sdk("PATCH", path, {"metadata": {"account": {"id": "a-1", "b": half}}})[0] == 200
    status, updated = tenant.sdk("PATCH", path, {"metadata": {"visitor": {"id": "v-1", "c": 1}}})
    assert status == 200 and set(updated["visitor"]) == {"plan", "a", "c"}


def test_a_key_generated_now_signs_at_once_in_a_warm_container(tenant: Tenant) -> None:
    """Like a newly published kid: a server that generates a key and signs with it at once is not
    refused because this container read the application's keys a moment before."""
    tenant.settings(useSignedMetadata=True)
    assert tenant.session(unsigned())[0] == 201  # the container now holds the view without the key
    key_name, secret = tenant.new_key()
    status, answer = tenant.session({"jwt": hs256(secret, {"visitor": {"id": "v"}}), "signingKeyName": key_name})
    assert status == 201, answer


def test_unknown_key_names_cost_one_reread_per_second(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant.settings(useSignedMetadata=True)
    _, secret = tenant.new_key()
    assert tenant.session(unsigned())[0] == 201
    # The caches' clock stands still: on a loaded machine 20 requests can span seconds, and each
    # second rightly allows one more reread. Frozen, exactly one reread is allowed.
    frozen = time.monotonic()
    monkeypatch.setattr("countersign.ttl_cache.time", SimpleNamespace(monotonic=lambda: frozen))
    with aws_calls("dynamodb") as calls:
        for attempt in range(20):
            body = {"jwt": hs256(secret, {"visitor": {"id": "v"}}), "signingKeyName": f"key_junk{attempt}"}
            assert tenant.session(body)[1]["error"]["code"] == "unknown_signing_key"
    # Reads of the application's keys (Query on its partition): one reread, not one per request.
    assert calls["dynamodb.Query"] <= 1, calls


def test_the_same_content_with_a_number_written_otherwise_is_a_duplicate(world: World, tenant: Tenant) -> None:
    session = tenant.session(unsigned())[1]
    timestamp = now_ms()
    bodies = [f'{{"type": "buy", "timestamp": {timestamp}, "properties": {{"n": {n}}}}}' for n in ("1", "1.0", "1e0")]
    answers = [tenant.events(session["sessionId"], [json.loads(body)])[1] for body in bodies]
    assert [(a["accepted"], a["duplicates"]) for a in answers] == [(1, 0), (0, 1), (0, 1)]
    assert stored_events(world) == 1


def nested_properties(levels: int) -> dict[str, Any]:
    """`properties` that make the event `levels` deep (the event object is level 1)."""
    inner: Any = "leaf"
    for _ in range(levels - 2):
        inner = {"x": inner}
    return {"deep": inner}


@pytest.mark.parametrize("levels", [17, 20, 31, 60, MAX_EVENT_DEPTH_IN_GUARD])
def test_an_event_nested_too_deep_is_rejected_alone_however_deep(tenant: Tenant, levels: int) -> None:
    session = tenant.session(unsigned())[1]["sessionId"]
    deep = {"type": "t", "timestamp": now_ms(), "insertId": f"deep-{levels}", "properties": nested_properties(levels)}
    batch = [events_of(1, f"good-a{levels}")[0], deep, events_of(1, f"good-b{levels}")[0]]
    status, answer = tenant.events(session, batch)
    assert status == 200, answer
    assert answer["accepted"] == 2 and [r["index"] for r in answer["rejected"]] == [1]
    assert answer["rejected"][0]["code"] == "invalid_event" and "16 levels" in answer["rejected"][0]["message"]


def test_an_event_at_the_per_event_bound_is_accepted(tenant: Tenant) -> None:
    session = tenant.session(unsigned())[1]["sessionId"]
    event = {"type": "t", "timestamp": now_ms(), "properties": nested_properties(events.MAX_EVENT_DEPTH)}
    assert tenant.events(session, [event])[1] == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_only_a_pathologically_deep_body_is_refused_whole(tenant: Tenant) -> None:
    session = tenant.session(unsigned())[1]["sessionId"]
    # One level past the guard: the event object sits at level 3 of the body (body, events, event).
    deep = {"type": "t", "timestamp": now_ms(), "properties": nested_properties(MAX_EVENT_DEPTH_IN_GUARD + 1)}
    status, answer = tenant.events(session, [deep])
    assert (status, answer["error"]["code"]) == (400, "invalid_json")
    assert f"{strict_json.SDK_BODY_DEPTH_GUARD} levels" in answer["error"]["message"]


def test_admin_bodies_keep_their_32_level_bound(tenant: Tenant) -> None:
    inner: Any = True
    for _ in range(32):
        inner = {"x": inner}
    status, answer = tenant.admin("PATCH", "/settings", {"useSignedMetadata": inner})
    assert (status, answer["error"]["code"]) == (400, "invalid_json"), answer


def signed_session(tenant: Tenant, secret: str, key_name: str, visitor: str) -> str:
    status, session = tenant.session({"jwt": hs256(secret, {"visitor": {"id": visitor}}), "signingKeyName": key_name})
    assert status == 201, session
    return str(session["sessionId"])


def one(insert_id: str, timestamp: int | None = None) -> list[dict[str, Any]]:
    return [{"type": "buy", "timestamp": timestamp or now_ms(), "insertId": insert_id}]


def test_a_client_that_cannot_sign_as_a_visitor_cannot_pre_empt_its_insert_ids(tenant: Tenant) -> None:
    """SPEC 3.3: an insertId is scoped so that nobody but the verified visitor makes its events duplicates."""
    tenant.settings(useSignedMetadata=True)
    key_name, secret = tenant.new_key()
    unsigned_claimer = tenant.session(unsigned(visitor="v-9"))[1]["sessionId"]  # claims v-9, unsigned
    other_visitor = signed_session(tenant, secret, key_name, "v-evil")  # signs, but as another visitor
    assert tenant.events(unsigned_claimer, one("order-42"))[1]["accepted"] == 1
    assert tenant.events(other_visitor, one("order-43"))[1]["accepted"] == 1
    victim = signed_session(tenant, secret, key_name, "v-9")
    answer = tenant.events(victim, one("order-42") + one("order-43"))[1]
    assert (answer["accepted"], answer["duplicates"]) == (2, 0)


def test_a_retry_of_the_same_event_is_a_duplicate_across_a_session_restart(tenant: Tenant) -> None:
    tenant.settings(useSignedMetadata=True)
    key_name, secret = tenant.new_key()
    stamp = now_ms()
    first, restarted = (signed_session(tenant, secret, key_name, "v-9") for _ in range(2))
    assert tenant.events(first, one("order-44", stamp))[1]["accepted"] == 1
    assert tenant.events(restarted, one("order-44", stamp))[1] == {"accepted": 0, "duplicates": 1, "rejected": []}
    anonymous = [tenant.session({"metadata": {"visitor": {"id": ""}}})[1]["sessionId"] for _ in range(2)]
    assert tenant.events(anonymous[0], one("anon-1", stamp))[1]["accepted"] == 1
    assert tenant.events(anonymous[1], one("anon-1", stamp))[1]["duplicates"] == 1  # a new random visitor id


def test_events_from_before_the_scoping_meet_the_application_wide_keys_an_older_release_wrote(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dedupe markers written before the change are application-wide `i<hash of insertId>` keys:
    a retry of an event timestamped before InsertIdScopedSince still meets them."""
    tenant.settings(useSignedMetadata=True)
    key_name, secret = tenant.new_key()
    victim = signed_session(tenant, secret, key_name, "v-9")
    cutover = now_ms() - 10 * 60_000
    monkeypatch.setenv(
        "INSERT_ID_SCOPED_SINCE", datetime.fromtimestamp(cutover / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    get_config.cache_clear()
    before = cutover - 10 * 60_000
    # What an older release stored for v-9's event: the key of the insertId alone (unsigned scope).
    assert (
        tenant.events(tenant.session(unsigned(visitor="v-9"))[1]["sessionId"], one("legacy-1", before))[1]["accepted"]
        == 1
    )
    assert tenant.events(victim, one("legacy-1", before))[1]["duplicates"] == 1
    assert tenant.events(victim, one("legacy-1"))[1]["accepted"] == 1  # after the cutover: its own scope
