"""The data lake on the local stack, over HTTP (SPEC 6): what reaches it, line for line.

Each test sends data through the API, then waits for the lines the stream poller and the export
function (running as the template's event source mapping says) put in the local lake, and
compares them with exactly what was accepted: nothing rejected, dropped or duplicated appears.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest

from countersign.events import dedupe_key
from countersign.lake import EVENT_FIELDS
from countersign_dev.lake import LakeTarget, list_objects, read_lines, run_sql
from tests.integration.test_tables_local import rows_when
from tests.support.local import LocalApi

#: SPEC 6: records appear in the local lake within 10 s of acceptance.
LAKE_LAG_SECONDS = 10
LAKE_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "lake.md"


@pytest.fixture(scope="module")
def lake(local: LocalApi) -> LakeTarget:
    return LakeTarget(local.aws_client("s3"), local.state["exportBucket"])


def now_ms() -> int:
    return int(time.time() * 1000)


def sdk(local: LocalApi, app: dict[str, str], method: str, suffix: str, body: Any) -> Any:
    reply = local.call(method, f"/v1/apps/{app['appId']}{suffix}", json_body=body)
    assert reply.status in (200, 201), reply.body
    return reply.body


def admin(local: LocalApi, app: dict[str, str], method: str, suffix: str, body: Any = None) -> Any:
    reply = local.call(method, f"/v1/apps/{app['appId']}{suffix}", json_body=body, token=app["adminToken"])
    assert reply.status in (200, 201), reply.body
    return reply.body


def lines_when(lake: LakeTarget, kind: str, app: dict[str, str], count: int) -> tuple[list[dict[str, Any]], float]:
    """The app's lines of `kind` once there are `count` of them, and how long that took (< 10 s)."""
    started = time.monotonic()
    while True:
        lines = read_lines(lake, kind, app=app["appId"], dt=None)  # type: ignore[arg-type]
        took = time.monotonic() - started
        if len(lines) >= count:
            return lines, took
        assert took < LAKE_LAG_SECONDS, f"{len(lines)} of {count} {kind} lines after {took:.1f} s"
        time.sleep(0.2)


def settled(lake: LakeTarget, kind: str, app: dict[str, str], count: int) -> list[dict[str, Any]]:
    """Exactly `count` lines, and still exactly that many after another delivery window."""
    lines_when(lake, kind, app, count)
    time.sleep(5 + 1)  # the mapping's MaximumBatchingWindowInSeconds, and a poll
    again = read_lines(lake, kind, app=app["appId"], dt=None)  # type: ignore[arg-type]
    assert len(again) == count, [line.get("eventId") or line.get("sessionId") for line in again]
    return again


def unsigned_session(local: LocalApi, app: dict[str, str], visitor: str = "v-1") -> str:
    body = {"metadata": {"visitor": {"id": visitor, "plan": "free"}, "account": {"id": "acme"}}}
    return str(sdk(local, app, "POST", "/sessions", body)["sessionId"])


def test_accepted_events_reach_the_lake_once_and_rejections_and_duplicates_never(
    local: LocalApi, app: dict[str, str], lake: LakeTarget
) -> None:
    sid = unsigned_session(local, app)
    stamp = now_ms()
    view = {"type": "page_view", "timestamp": stamp, "name": "Home", "insertId": "pv-1", "properties": {"path": "/"}}
    click = {"type": "click", "timestamp": stamp + 1}
    batch = [view, click, view, {"type": ""}, {"type": "old", "timestamp": stamp - 30 * 86_400_000}]
    answer = sdk(local, app, "POST", "/events", {"sessionId": sid, "events": batch})
    assert (answer["accepted"], answer["duplicates"], len(answer["rejected"])) == (2, 1, 2)
    accepted_at = time.monotonic()
    again = sdk(local, app, "POST", "/events", {"sessionId": sid, "events": [view, click]})
    assert again["accepted"] == 0

    lines, _ = lines_when(lake, "events", app, 2)
    assert time.monotonic() - accepted_at < LAKE_LAG_SECONDS
    lines = settled(lake, "events", app, 2)
    by_type = {line["type"]: line for line in lines}
    for sent in (view, click):
        line = by_type[sent["type"]]
        assert list(line) == list(EVENT_FIELDS)
        assert line == {
            "eventId": dedupe_key(sent, "v-1", "acme"),
            "appId": app["appId"],
            "sessionId": sid,
            "visitorId": "v-1",
            "accountId": "acme",
            "type": sent["type"],
            "name": sent.get("name"),
            "timestamp": sent["timestamp"],
            "insertId": sent.get("insertId"),
            "properties": sent.get("properties"),
            "context": None,
            "receivedAt": line["receivedAt"],
            "verification": {"mode": "unsigned"},
        }
        assert line["receivedAt"].endswith("Z") and line["receivedAt"][:10] == time.strftime("%Y-%m-%d", time.gmtime())
    keys = [item["key"] for item in list_objects(lake, app=app["appId"], dt=None)]
    assert all(key.endswith(".jsonl.gz") for key in keys)
    assert {key.split("/")[0] for key in keys} == {"events", "sessions"}
    assert all(key.split("/")[2] == "dt=" + time.strftime("%Y-%m-%d", time.gmtime()) for key in keys)


def test_an_events_context_is_stored_and_exported_as_sent_and_is_not_part_of_content_dedupe(
    local: LocalApi, app: dict[str, str], lake: LakeTarget
) -> None:
    """SPEC 3.3: `context` (at most 8 KiB, an object) is stored, exported as `context`, and two
    sends of the same content from two pages are one event; a bad context rejects its event alone."""
    sid = unsigned_session(local, app)
    stamp = now_ms()
    context = {
        "library": {"name": "@countersign/browser", "version": "2.0.0"},
        "page": {"url": "https://shop.example/pricing?plan=pro", "path": "/pricing", "referrer": "", "title": "Prix €"},
        "userAgent": "Mozilla/5.0",
        "locale": "fr-FR",
        "timezone": "Europe/Paris",
        "screen": {"width": 1280, "height": 800},
    }
    buy = {"type": "track", "timestamp": stamp, "name": "buy", "properties": {"sku": 7}}
    batch = [
        {**buy, "context": context},
        {**buy, "context": {**context, "page": {**context["page"], "url": "https://shop.example/other"}}},
        {"type": "track", "timestamp": stamp, "name": "big", "context": {"pad": "x" * 8192}},
        {"type": "track", "timestamp": stamp, "name": "list", "context": ["not", "an", "object"]},
    ]
    answer = sdk(local, app, "POST", "/events", {"sessionId": sid, "events": batch})
    assert (answer["accepted"], answer["duplicates"]) == (1, 1), answer
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [(2, "invalid_context"), (3, "invalid_context")]

    stored = admin(local, app, "GET", "/raw-events")["events"]
    assert [(e["name"], e["context"]) for e in stored] == [("buy", context)]
    (line,) = settled(lake, "events", app, 1)
    assert list(line) == list(EVENT_FIELDS)
    assert line["context"] == context and line["properties"] == {"sku": 7}
    assert line["eventId"] == dedupe_key(buy, "v-1", "acme")


def test_a_signed_session_and_its_metadata_update_reach_the_lake_whole(
    local: LocalApi, app: dict[str, str], lake: LakeTarget
) -> None:
    admin(local, app, "PATCH", "/settings", {"useSignedMetadata": True})
    key = admin(local, app, "POST", "/keys", {"description": "server"})
    secret = admin(local, app, "POST", f"/keys/{key['keyName']}/reveal")["secret"]

    def signed(claims: dict[str, Any]) -> dict[str, Any]:
        token = jwt.encode({"nonce": f"n-{time.time_ns()}", **claims}, secret.encode(), algorithm="HS256")
        return {"jwt": token, "signingKeyName": key["keyName"]}

    start = sdk(
        local, app, "POST", "/sessions", signed({"visitor": {"id": "v-9", "plan": "free"}, "account": {"id": "a-9"}})
    )
    sid = start["sessionId"]
    sdk(local, app, "PATCH", f"/sessions/{sid}", signed({"visitor": {"id": "v-9", "plan": "pro", "seats": 3}}))
    # A drop never reaches the lake: a token signed with another secret.
    bad = jwt.encode({"nonce": "x", "visitor": {"id": "v-9"}}, b"not-the-secret-" * 3, algorithm="HS256")
    reply = local.call(
        "POST", f"/v1/apps/{app['appId']}/sessions", json_body={"jwt": bad, "signingKeyName": key["keyName"]}
    )
    assert reply.status == 401

    lines = settled(lake, "sessions", app, 2)
    started, updated = sorted(lines, key=lambda line: line["metadataVersion"])
    verification = {"mode": "hs256", "keyName": key["keyName"]}
    assert started == {
        "sessionId": sid,
        "appId": app["appId"],
        "visitorId": "v-9",
        "accountId": "a-9",
        "anonymous": False,
        "visitor": {"plan": "free"},
        "account": {},
        "verification": verification,
        "startedAt": started["startedAt"],
        "expiresAt": started["expiresAt"],
        "metadataVersion": 1,
        "change": "started",
        "changedAt": started["startedAt"],
    }
    assert started["expiresAt"][:19] + "Z" == start["expiresAt"]  # the API's answer, to the millisecond
    assert updated == {
        **started,
        "visitor": {"plan": "pro", "seats": 3},
        "metadataVersion": 2,
        "change": "updated",
        "changedAt": updated["changedAt"],
    }
    assert updated["changedAt"] > started["startedAt"]


def test_two_applications_each_see_only_their_own_lines(local: LocalApi, lake: LakeTarget) -> None:
    first, second = local.create_app("Lake one"), local.create_app("Lake two")
    for app, count in ((first, 3), (second, 5)):
        sid = unsigned_session(local, app)
        events = [{"type": f"t-{app['appId']}", "timestamp": now_ms(), "insertId": f"e-{i}"} for i in range(count)]
        sdk(local, app, "POST", "/events", {"sessionId": sid, "events": events})
    for app, count in ((first, 3), (second, 5)):
        lines = settled(lake, "events", app, count)
        assert {line["appId"] for line in lines} == {app["appId"]}
        assert {line["type"] for line in lines} == {f"t-{app['appId']}"}
        assert sorted(line["insertId"] for line in lines) == [f"e-{i}" for i in range(count)]


def test_eight_concurrent_deliveries_of_one_batch_reach_the_lake_once(
    local: LocalApi, app: dict[str, str], lake: LakeTarget
) -> None:
    sid = unsigned_session(local, app)
    stamp = now_ms()
    batch = {
        "sessionId": sid,
        "events": [{"type": "view", "timestamp": stamp + i} for i in range(20)]
        + [{"type": "tap", "timestamp": stamp, "insertId": f"tap-{i}"} for i in range(20)],
    }
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: sdk(local, app, "POST", "/events", batch), range(8)))
    assert sum(answer["accepted"] for answer in answers) == 40
    lines = settled(lake, "events", app, 40)
    expected = sorted(dedupe_key(event, "v-1", "acme") for event in batch["events"])
    assert sorted(line["eventId"] for line in lines) == expected


def _readme_queries() -> list[str]:
    """The Athena queries of docs/lake.md "Where accepted data goes", in order (```sql blocks there)."""
    text = LAKE_GUIDE.read_text()
    section = text.split("## Where accepted data goes", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0].strip() for block in section.split("```sql")[1:]]


def test_the_readmes_athena_queries_run_on_the_local_lake_and_answer_right(
    local: LocalApi, app: dict[str, str], lake: LakeTarget
) -> None:
    per_type, by_mode, joined = _readme_queries()
    sid = unsigned_session(local, app, visitor="v-q")
    events = [{"type": "view", "timestamp": now_ms() + i} for i in range(3)] + [{"type": "buy", "timestamp": now_ms()}]
    sdk(local, app, "POST", "/events", {"sessionId": sid, "events": events})
    sdk(local, app, "PATCH", f"/sessions/{sid}", {"metadata": {"visitor": {"id": "v-q", "plan": "pro"}}})
    settled(lake, "events", app, 4)
    lines_when(lake, "sessions", app, 2)

    def run(query: str) -> list[dict[str, Any]]:
        columns, rows = run_sql(lake, query.replace("<appId>", app["appId"]), app=app["appId"])
        return [dict(zip(columns, row, strict=True)) for row in rows]

    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert run(per_type) == [{"dt": today, "type": "buy", "events": 1}, {"dt": today, "type": "view", "events": 3}]
    assert run(by_mode) == [{"mode": "unsigned", "sessions": 1}]
    rows = run(joined)
    assert len(rows) == 4 and {row["plan"] for row in rows} == {"pro"}  # the latest metadata, not the first
    assert {row["type"] for row in rows} == {"view", "buy"}


def test_countersign_lake_prints_the_lines_and_runs_sql(local: LocalApi, app: dict[str, str], lake: LakeTarget) -> None:
    sid = unsigned_session(local, app)
    sdk(local, app, "POST", "/events", {"sessionId": sid, "events": [{"type": "cli", "timestamp": now_ms()}]})
    (line,), _ = lines_when(lake, "events", app, 1)
    where = ["--local", "--state-dir", str(local.state_dir), "--app", app["appId"]]
    printed = local.cli("lake", "events", *where).stdout.splitlines()
    assert [json.loads(text) for text in printed] == [line]
    sessions = [json.loads(text) for text in local.cli("lake", "sessions", *where).stdout.splitlines()]
    assert [s["sessionId"] for s in sessions] == [sid]
    rows_when(local, app, "events", 1)  # `lake sql` queries the tables (SPEC 6.2): folded within 30 s
    table = local.cli("lake", "sql", "SELECT type, count(*) AS n FROM events GROUP BY type", *where).stdout
    assert table.splitlines()[0].split() == ["type", "n"] and table.splitlines()[2].split() == ["cli", "1"]
    listed = json.loads(local.cli("lake", "ls", "--json", *where).stdout)
    assert len(listed) == 2 and all(item["bytes"] > 0 for item in listed)
    failed = local.cli("lake", "sql", "SELECT nope FROM events", *where, check=False)
    assert (
        failed.returncode == 1
        and failed.stderr.startswith("countersign: error: SQL:")
        and "Traceback" not in failed.stderr
    )
    assert json.loads(local.cli("lake", "redrive", "--local", "--state-dir", str(local.state_dir)).stdout) == {
        "batches": 0,
        "linesWritten": 0,
    }
