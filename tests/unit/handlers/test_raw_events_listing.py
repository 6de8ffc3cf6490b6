"""GET /raw-events in-process (issue 12, defect 5): a visitor filter finds that visitor's newest
events however much other visitors sent, at a cost that does not grow with their traffic, and a
listing is never cut short by an early page holding fewer events than asked for."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from countersign import aws
from countersign.store.data import DataStore
from tests.support.tenant import Tenant, aws_calls
from tests.support.world import World


@pytest.fixture
def tenant(world: World) -> Tenant:
    return Tenant(world)


def start_session(tenant: Tenant, visitor: str) -> str:
    status, session = tenant.session({"metadata": {"visitor": {"id": visitor}, "account": {"id": "a-1"}}})
    assert status == 201, session
    return str(session["sessionId"])


def send(tenant: Tenant, session_id: str, *insert_ids: str) -> None:
    events = [{"type": "view", "timestamp": int(time.time() * 1000), "insertId": i} for i in insert_ids]
    status, answer = tenant.events(session_id, events)
    assert status == 200 and answer["accepted"] == len(insert_ids), answer


def listed(tenant: Tenant, query: str) -> list[dict[str, Any]]:
    status, raw = tenant.admin("GET", "/raw-events", query=query)
    assert status == 200, raw
    return list(raw["events"])


def test_a_quiet_visitors_event_is_found_after_240_batches_of_a_busy_one(tenant: Tenant) -> None:
    send(tenant, start_session(tenant, "quiet"), "quiet-1")
    busy = start_session(tenant, "busy")
    for n in range(240):
        send(tenant, busy, f"busy-{n}")
    events = listed(tenant, "visitorId=quiet&limit=1")
    assert [(e["visitorId"], e["insertId"]) for e in events] == [("quiet", "quiet-1")]
    # The busy visitor's own newest, newest first, and the unfiltered listing is unchanged.
    assert [e["insertId"] for e in listed(tenant, "visitorId=busy&limit=3")] == ["busy-239", "busy-238", "busy-237"]
    assert [e["insertId"] for e in listed(tenant, "limit=2")] == ["busy-239", "busy-238"]


def test_a_visitor_filter_costs_the_same_after_10_and_after_300_other_batches(tenant: Tenant) -> None:
    send(tenant, start_session(tenant, "quiet"), "quiet-1", "quiet-2")
    busy = start_session(tenant, "busy")

    def filtered_listing_reads() -> dict[str, int]:
        """The listing's DataTable reads (the admin check's GetItem and the request's counter
        write are the same for every admin request)."""
        with aws_calls("dynamodb") as calls:
            assert [e["insertId"] for e in listed(tenant, "visitorId=quiet&limit=25")] == ["quiet-2", "quiet-1"]
        return {name: count for name, count in calls.items() if name in {"dynamodb.Query", "dynamodb.BatchGetItem"}}

    for n in range(10):
        send(tenant, busy, f"busy-{n}")
    after_10 = filtered_listing_reads()
    for n in range(10, 300):
        send(tenant, busy, f"busy-{n}")
    # One index query, one read of the receipts it names, one read of their events: no page of
    # another visitor's receipts is read, however many there are.
    assert after_10 == filtered_listing_reads() == {"dynamodb.Query": 1, "dynamodb.BatchGetItem": 2}


def test_retries_of_one_batch_do_not_cut_a_listing_short(tenant: Tenant) -> None:
    """A retried batch writes one more receipt for the same events: the listing reads on past
    such receipts until it has `limit` distinct events, filtered by visitor or not."""
    session_id = start_session(tenant, "retrier")
    send(tenant, session_id, "first")
    events = [{"type": "view", "timestamp": int(time.time() * 1000), "insertId": i} for i in ("r1", "r2")]
    assert tenant.events(session_id, events)[1]["accepted"] == 2
    for _ in range(5):  # each retry is answered "duplicates" and writes one more receipt of r1, r2
        assert tenant.events(session_id, events)[1]["duplicates"] == 2
    for query in ("limit=3", "visitorId=retrier&limit=3"):
        assert [e["insertId"] for e in listed(tenant, query)] == ["r2", "r1", "first"], query


@contextmanager
def unprocessed_batch_gets(times: int) -> Iterator[list[int]]:
    """DynamoDB answers the next `times` BatchGetItems with every key unprocessed (throttling)."""
    events = aws.client("dynamodb").meta.events
    answered: list[int] = []

    def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["requested"] = params["RequestItems"]

    def unprocess(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        answered.append(1)
        if len(answered) <= times:
            parsed["Responses"], parsed["UnprocessedKeys"] = {}, context["requested"]

    events.register("before-parameter-build.dynamodb.BatchGetItem", keep)
    events.register("after-call.dynamodb.BatchGetItem", unprocess)
    try:
        yield answered
    finally:
        events.unregister("before-parameter-build.dynamodb.BatchGetItem", keep)
        events.unregister("after-call.dynamodb.BatchGetItem", unprocess)


def test_keys_dynamodb_leaves_unprocessed_are_asked_again_then_a_503_never_a_short_listing(tenant: Tenant) -> None:
    send(tenant, start_session(tenant, "v"), "one", "two")
    with unprocessed_batch_gets(times=2):  # throttled twice, then answered: the listing is whole
        assert [e["insertId"] for e in listed(tenant, "limit=5")] == ["two", "one"]
    with unprocessed_batch_gets(times=100) as answered:
        status, body = tenant.admin("GET", "/raw-events", query="visitorId=v")
    assert (status, body.get("error", {}).get("code")) == (503, "service_unavailable"), body
    assert len(answered) == 5  # asked five times, then answered 503 for the admin to retry


def test_receipts_from_before_the_index_are_found_once_the_upgrade_step_indexed_them(tenant: Tenant) -> None:
    world = tenant.world
    send(tenant, start_session(tenant, "old-timer"), "before-upgrade")
    # The receipt as a stack without VisitorReceipts wrote it: a bare visitorId, no index key.
    (receipt,) = [
        item for item in world.dynamodb.scan(TableName=world.data_table)["Items"] if item["pk"]["S"].startswith("RAW#")
    ]
    world.dynamodb.update_item(
        TableName=world.data_table,
        Key={"pk": receipt["pk"], "sk": receipt["sk"]},
        UpdateExpression="SET visitorId = :visitor REMOVE visitorReceipts",
        ExpressionAttributeValues={":visitor": {"S": "old-timer"}},
    )
    assert listed(tenant, "visitorId=old-timer") == []  # what an upgraded stack lists until then

    store = DataStore(world.data_table, world.dynamodb)
    assert store.index_unindexed_receipts() == 1
    assert [e["insertId"] for e in listed(tenant, "visitorId=old-timer")] == ["before-upgrade"]
    assert store.index_unindexed_receipts() == 0  # nothing left: running it again writes nothing


def emoji_events(prefix: str, count: int) -> list[dict[str, Any]]:
    """Events of nearly 32 KiB each, all emoji: 4 bytes of UTF-8 each, 12 once escaped as JSON."""
    stamp = int(time.time() * 1000)
    return [
        {"type": "t", "timestamp": stamp, "insertId": f"{prefix}-{n}", "properties": {"t": "😀" * 7_900}}
        for n in range(count)
    ]


def test_raw_events_fit_lambdas_response_limit_and_page_on_by_cursor(world: World, tenant: Tenant) -> None:
    """Issue 21 defect 5: 100 events of ~32 KiB of emoji were a 9.8 MB answer (a 502 on AWS)."""
    session_id = start_session(tenant, "emoji")
    for batch in range(10):  # ten a batch: sent escaped, ten make most of the 1 MiB body limit
        assert tenant.events(session_id, emoji_events(f"b{batch}", 10))[1]["accepted"] == 10
    seen: list[str] = []
    query = "limit=100"
    for _ in range(10):
        answer = world.invoke_raw("GET", f"/v1/apps/{tenant.app_id}/raw-events", token=tenant.token, query=query)
        # What Lambda's runtime sends back, measured as it writes it: within its 6 MB limit.
        assert len(json.dumps(answer).encode()) <= 6 * 1024 * 1024
        assert answer["statusCode"] == 200, answer["body"][:300]
        body = json.loads(answer["body"])
        assert body["count"] == len(body["events"]) > 0
        seen.extend(event["insertId"] for event in body["events"])
        if "nextCursor" not in body:
            break
        query = f"limit=100&cursor={body['nextCursor']}"
    expected = [f"b{batch}-{n}" for batch in range(9, -1, -1) for n in range(9, -1, -1)]
    assert seen == expected  # each event once, newest first, over the pages


def test_a_listing_pages_on_by_count_filtered_or_not(tenant: Tenant) -> None:
    session_id = start_session(tenant, "pager")
    for n in range(5):
        send(tenant, session_id, f"p{n}")
    send(tenant, start_session(tenant, "other"), "o0")
    for query, expected in (
        ("limit=2", [["o0", "p4"], ["p3", "p2"], ["p1", "p0"]]),
        ("visitorId=pager&limit=2", [["p4", "p3"], ["p2", "p1"], ["p0"]]),
    ):
        pages: list[list[str]] = []
        page_query = query
        while True:
            status, raw = tenant.admin("GET", "/raw-events", query=page_query)
            assert status == 200, raw
            pages.append([event["insertId"] for event in raw["events"]])
            if "nextCursor" not in raw:
                break
            page_query = f"{query}&cursor={raw['nextCursor']}"
        assert [page for page in pages if page] == expected, query
        assert len(pages) <= len(expected) + 1


@pytest.mark.parametrize("cursor", ["x", "%00", "a" * 97, "MTIzfDQ", "MTc5NjU1NzM4NDcyMyNnZ2dnfDE"])
def test_a_cursor_that_no_answer_gave_is_400(tenant: Tenant, cursor: str) -> None:
    status, body = tenant.admin("GET", "/raw-events", query=f"cursor={cursor}")
    assert (status, body["error"]["code"]) == (400, "invalid_request")
    assert "nextCursor" in body["error"]["message"]
