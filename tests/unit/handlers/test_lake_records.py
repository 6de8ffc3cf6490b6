"""The lake's records, names and filter (SPEC 6), from stream records the real routes produced."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime
from typing import Any

import boto3
import jwt
import pytest

from countersign.lake import (
    KINDS,
    LakeLine,
    ObjectName,
    Partition,
    decode_object,
    encode_object,
    lake_line,
    object_name,
    parse_object_key,
    start_after_key,
)
from countersign_dev.provision import REGION
from countersign_dev.stream_poller import matches
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
        "insertId", "properties", "receivedAt", "verification",
    }  # fmt: skip
    assert view["appId"] == tenant.app_id and view["sessionId"] == sid
    assert (view["visitorId"], view["accountId"]) == ("v-7", "acme")
    assert (view["name"], view["insertId"], view["properties"]) == ("Home", "i-1", {"a": 1})
    assert view["timestamp"] == sent[0]["timestamp"] and view["verification"] == verification
    assert (click["name"], click["insertId"], click["properties"]) == (None, None, None)
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
    }
    assert updated == {
        **started,
        "visitor": {"plan": "pro"},
        "metadataVersion": 2,
        "change": "updated",
    }
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


def _line(sequence: int, identity: str = "", dt: str = "2026-11-26") -> LakeLine:
    return LakeLine(
        "events", "app_x", dt, sequence, identity or f"e{sequence}", {"eventId": identity or f"e{sequence}"}
    )


def test_object_names_sort_by_stream_position_and_parse_back() -> None:
    partition = Partition("events", "app_x", "2026-11-26")
    name = object_name(partition, [_line(42), _line(7), _line(19)])
    assert (name.first, name.last) == (7, 42)
    assert name.key.startswith("events/app=app_x/dt=2026-11-26/") and name.key.endswith(".jsonl.gz")
    assert parse_object_key(name.key) == name
    assert object_name(partition, [_line(7), _line(42)]).key != name.key  # other lines, other name
    assert object_name(partition, [_line(19), _line(42), _line(7)]) == name  # same lines, same name
    for bad in ("events/app=a/dt=d/x.jsonl.gz", "other/app=a/dt=d/1-2-ab.jsonl.gz", "events/app=a/1-2-ab.jsonl.gz"):
        assert parse_object_key(bad) is None
    # Sorted keys follow the last line's position; the listing start skips exactly the objects ending before.
    keys = sorted(ObjectName(partition, first, last, "d").key for first, last in ((1, 9), (10, 10), (3, 12), (11, 99)))
    assert [parse_object_key(key).last for key in keys] == [9, 10, 12, 99]  # type: ignore[union-attr]
    after = [key for key in keys if key > start_after_key(partition, 10)]
    assert [parse_object_key(key).last for key in after] == [10, 12, 99]  # type: ignore[union-attr]


def test_objects_are_gzip_json_lines_in_stream_order_and_byte_for_byte_reproducible() -> None:
    lines = [_line(5, "b"), _line(2, "a"), _line(9, "c")]
    body = encode_object(lines)
    assert body == encode_object(list(reversed(lines)))
    assert gzip.decompress(body).decode().splitlines() == ['{"eventId":"a"}', '{"eventId":"b"}', '{"eventId":"c"}']
    assert decode_object(body) == [{"eventId": "a"}, {"eventId": "b"}, {"eventId": "c"}]
    assert KINDS == ("events", "sessions")


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"a": ["x"]}, {"a": "x"}, True),
        ({"a": ["x", "y"]}, {"a": "y"}, True),
        ({"a": ["x"]}, {"a": "z"}, False),
        ({"a": ["x"]}, {}, False),
        ({"a": [1]}, {"a": "1"}, False),
        ({"a": {"b": {"c": ["v"]}}}, {"a": {"b": {"c": "v"}}}, True),
        ({"a": {"b": ["v"]}}, {"a": "v"}, False),
        ({"a": [{"prefix": "EV"}]}, {"a": "EVENT#1"}, True),
        ({"a": [{"suffix": "#1"}]}, {"a": "EVENT#2"}, False),
        ({"a": [{"anything-but": ["REMOVE"]}]}, {"a": "INSERT"}, True),
        ({"a": [{"anything-but": "REMOVE"}]}, {"a": "REMOVE"}, False),
        ({"a": [{"exists": False}]}, {}, True),
        ({"a": [{"exists": True}]}, {}, False),
        ({"a": [{"numeric": [">", 1, "<=", 5]}]}, {"a": 5}, True),
        ({"a": [{"numeric": [">", 1]}]}, {"a": "5"}, False),
        ({"a": [{"equals-ignore-case": "insert"}]}, {"a": "INSERT"}, True),
        ({"a": ["x"]}, {"a": ["y", "x"]}, True),
        ({"a": ["x"], "b": ["y"]}, {"a": "x", "b": "z"}, False),
    ],
)
def test_filter_patterns_match_as_lambda_filters_do(pattern: dict[str, Any], event: Any, expected: bool) -> None:
    assert matches(pattern, event) is expected
