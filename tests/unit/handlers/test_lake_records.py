"""The lake's records, names and filter (SPEC 6), from stream records the real routes produced."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import boto3
import jwt

from countersign.lake import (
    lake_line,
)
from countersign_dev.emulation.provision import REGION
from tests.support.lake import export_mapping, stream_records
from tests.support.tenant import Tenant
from tests.support.world import World


def _records(world: World) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    return stream_records(streams, world.provisioned.attrs[("DataTable", "StreamArn")])


def _hs256(secret: str, claims: dict[str, Any]) -> str:
    return jwt.encode({"nonce": f"n-{time.time_ns()}", **claims}, secret.encode(), algorithm="HS256")


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def test_a_signed_session_its_update_and_its_events_become_the_documented_records(world: World) -> None:
    tenant = Tenant(world)
    tenant.settings(useSignedMetadata=True)
    key_name, secret = tenant.new_key()
    token = _hs256(secret, {"visitor": {"id": "v-7", "plan": "free"}, "account": {"id": "acme", "tier": "gold"}})
    status, session = tenant.session({"jwt": token, "signingKeyName": key_name})
    assert status == 201
    sid = session["sessionId"]
    sent = [
        {
            "type": "page_view",
            "timestamp": 1_700_000_000_123,
            "insertId": "i-1",
            "name": "Home",
            "properties": {"a": 1},
        },
        {"type": "click", "timestamp": int(time.time() * 1000)},
    ]
    status, answer = tenant.events(sid, sent)
    assert (status, answer["accepted"]) == (200, 1), answer  # the first is older than the dedupe window
    sent = [{**sent[0], "timestamp": int(time.time() * 1000) - 5000}, sent[1]]
    status, answer = tenant.events(sid, sent)
    assert (status, answer["accepted"], answer["duplicates"]) == (200, 1, 1), answer
    update = _hs256(secret, {"visitor": {"id": "v-7", "plan": "pro"}})
    status, _ = tenant.sdk("PATCH", f"/sessions/{sid}", {"jwt": update, "signingKeyName": key_name})
    assert status == 200

    lines = [line for record in _records(world) if (line := lake_line(record)) is not None]
    events = [line for line in lines if line.kind == "events"]
    sessions = [line for line in lines if line.kind == "sessions"]
    verification = {"mode": "hs256", "keyName": key_name}
    assert [line.record["type"] for line in events] == ["click", "page_view"]
    click, view = (line.record for line in events)
    assert set(view) == {
        "eventId", "appId", "sessionId", "visitorId", "accountId", "type", "name", "timestamp",
        "insertId", "properties", "context", "receivedAt", "verification",
    }  # fmt: skip
    assert view["appId"] == tenant.app_id and view["sessionId"] == sid
    assert (view["visitorId"], view["accountId"]) == ("v-7", "acme")
    assert (view["name"], view["insertId"], view["properties"]) == ("Home", "i-1", {"a": 1})
    assert view["timestamp"] == sent[0]["timestamp"] and view["verification"] == verification
    assert (click["name"], click["insertId"], click["properties"], click["context"]) == (None, None, None, None)
    assert click["eventId"].startswith("c") and view["eventId"].startswith("i")
    received = datetime.strptime(view["receivedAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(received.timestamp() - time.time()) < 60
    assert {line.dt for line in lines} == {_today()}

    started, updated = (line.record for line in sessions)
    assert started == {
        "sessionId": sid,
        "appId": tenant.app_id,
        "visitorId": "v-7",
        "accountId": "acme",
        "anonymous": False,
        # The metadata as the API answers it: the ids are visitorId and accountId.
        "visitor": {"plan": "free"},
        "account": {"tier": "gold"},
        "verification": verification,
        "startedAt": started["startedAt"],
        "expiresAt": started["expiresAt"],
        "metadataVersion": 1,
        "change": "started",
        "changedAt": started["startedAt"],  # a start is changed at its start
    }
    assert updated == {
        **started,
        "visitor": {"plan": "pro"},
        "metadataVersion": 2,
        "change": "updated",
        "changedAt": updated["changedAt"],
    }
    assert updated["changedAt"] > started["startedAt"]  # the update's own time, not the start's
    assert started["expiresAt"] > started["startedAt"]  # ISO 8601 UTC strings sort in time order


def test_an_unsigned_session_says_so_and_carries_nulls_only_where_documented(world: World) -> None:
    tenant = Tenant(world)
    status, session = tenant.session({"metadata": {"visitor": {"id": "v-1"}}})
    assert status == 201
    tenant.events(session["sessionId"], [{"type": "t", "timestamp": int(time.time() * 1000)}])
    lines = [line for record in _records(world) if (line := lake_line(record)) is not None]
    (started,) = [line.record for line in lines if line.kind == "sessions"]
    (event,) = [line.record for line in lines if line.kind == "events"]
    assert started["verification"] == event["verification"] == {"mode": "unsigned"}
    assert started["anonymous"] is False and started["account"] == {}


def test_only_event_inserts_and_session_changes_pass_the_templates_filter_and_become_lines(world: World) -> None:
    tenant = Tenant(world)
    status, session = tenant.session({"metadata": {"visitor": {"id": "v-1"}}})
    assert status == 201
    sid = session["sessionId"]
    batch = [{"type": "t", "timestamp": int(time.time() * 1000), "insertId": f"x-{i}"} for i in range(3)]
    tenant.events(sid, batch)
    tenant.events(sid, batch)  # duplicates: no new event item
    tenant.events(sid, [{"type": ""}])  # rejected: nothing stored
    tenant.session({"jwt": "not-a-token", "signingKeyName": "k"})  # a drop: counters and a drop item only
    mapping = export_mapping(world.template)
    records = _records(world)
    sources = {(r["eventName"], _item_kind(r)) for r in records}
    assert {("INSERT", "RAW"), ("INSERT", "DROPS"), ("INSERT", "STATS")} <= sources  # the filter has work to do
    passed = [r for r in records if mapping.passes(r)]
    assert all((lake_line(r) is not None) == mapping.passes(r) for r in records)
    assert sorted(_item_kind(r) for r in passed) == ["EVENT"] * 3 + ["SESSION"]
    # A TTL expiry is a REMOVE: it never passes, whatever the item.
    for record in passed:
        assert not mapping.passes({**record, "eventName": "REMOVE"})
    assert mapping.batch_size == 1000 and mapping.window_seconds == 5
    assert mapping.bisect and mapping.partial_batch_responses and mapping.on_failure == "ExportDeadLetterQueue"


def _item_kind(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["pk"]["S"].split("#")[0])
