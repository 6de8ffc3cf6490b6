"""The Iceberg tables on the local stack (SPEC 6.2), over HTTP: accepted data reaches `events` and
`sessions` within 30 s, typed, once, in the embedded catalog local.json names, with data and
metadata under tables/ of the export bucket."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from countersign_dev.tables_access import local_table_settings, read_tables, run_table_sql
from tests.support.local import LocalApi

#: SPEC 6.2: locally a line reaches the tables within 30 s.
TABLES_LAG_SECONDS = 30


def now_ms() -> int:
    return int(time.time() * 1000)


def rows_when(local: LocalApi, app: dict[str, str], kind: str, count: int) -> tuple[list[dict[str, Any]], float]:
    """The app's rows of `kind` once there are `count`, and how long that took (< 30 s)."""
    settings = local_table_settings(local.state)
    started = time.monotonic()
    while True:
        rows = read_tables(settings, app=app["appId"])[kind].to_pylist()
        took = time.monotonic() - started
        if len(rows) >= count:
            return rows, took
        assert took < TABLES_LAG_SECONDS, f"{len(rows)} of {count} {kind} rows after {took:.1f} s"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def traffic(local: LocalApi) -> dict[str, Any]:
    """An application with one session, one metadata update and three events (one a retry)."""
    app = local.create_app("Tables")
    reply = local.call("POST", f"/v1/apps/{app['appId']}/sessions", json_body={"metadata": {"visitor": {"id": "v-1"}}})
    assert reply.status == 201, reply.body
    session = reply.body["sessionId"]
    events = [
        {"type": "page", "name": "Home", "timestamp": now_ms() - 86_400_000, "properties": {"path": "/"}},
        {"type": "track", "name": "Signup", "timestamp": now_ms(), "insertId": "signup-1"},
    ]
    path = f"/v1/apps/{app['appId']}/events"
    accepted_at = time.monotonic()
    for _ in range(2):  # the second is a retry: deduplicated, never a second row
        assert local.call("POST", path, json_body={"sessionId": session, "events": events}).status == 200
    update = {"metadata": {"visitor": {"id": "v-1", "plan": "pro"}}}
    assert local.call("PATCH", f"/v1/apps/{app['appId']}/sessions/{session}", json_body=update).status == 200
    return {"app": app, "session": session, "accepted_at": accepted_at}


def test_accepted_events_reach_the_events_table_within_30_seconds_typed_and_once(
    local: LocalApi, traffic: dict[str, Any]
) -> None:
    rows, _ = rows_when(local, traffic["app"], "events", 2)
    took = time.monotonic() - traffic["accepted_at"]
    assert took < TABLES_LAG_SECONDS, took
    time.sleep(6)  # another fold (every 5 s locally) adds nothing
    rows = read_tables(local_table_settings(local.state), app=traffic["app"]["appId"])["events"].to_pylist()
    assert sorted(row["name"] for row in rows) == ["Home", "Signup"]
    home = next(row for row in rows if row["name"] == "Home")
    assert json.loads(home["properties"]) == {"path": "/"} and home["session_id"] == traffic["session"]
    assert home["event_time"].date() < home["received_at"].date()  # yesterday's event: its own day


def test_session_starts_and_updates_reach_the_sessions_table(local: LocalApi, traffic: dict[str, Any]) -> None:
    rows, _ = rows_when(local, traffic["app"], "sessions", 2)
    assert sorted((row["metadata_version"], row["change"]) for row in rows) == [(1, "started"), (2, "updated")]
    assert json.loads(max(rows, key=lambda row: row["metadata_version"])["visitor"]) == {"plan": "pro"}


def test_local_json_names_the_catalog_and_the_tables_live_under_tables_in_the_export_bucket(
    local: LocalApi, traffic: dict[str, Any]
) -> None:
    rows_when(local, traffic["app"], "events", 2)
    tables = local.state["tables"]
    assert (
        tables["catalog"].startswith("sqlite:///")
        and tables["warehouse"] == f"s3://{local.state['exportBucket']}/tables"
    )
    s3 = local.aws_client("s3")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=local.state["exportBucket"], Prefix="tables/")
        for item in page.get("Contents", [])
    ]
    assert any(key.startswith("tables/events/data/") and key.endswith(".parquet") for key in keys)
    assert any(key.startswith("tables/events/metadata/") and key.endswith(".metadata.json") for key in keys)


def test_sql_over_the_tables_runs_locally(local: LocalApi, traffic: dict[str, Any]) -> None:
    rows_when(local, traffic["app"], "events", 2)
    columns, rows = run_table_sql(
        local_table_settings(local.state),
        "SELECT type, count(*) AS events FROM events GROUP BY type ORDER BY type",
        app=traffic["app"]["appId"],
    )
    assert columns == ["type", "events"] and rows == [["page", 1], ["track", 1]]


LAKE_DOC = Path(__file__).resolve().parents[2] / "docs" / "lake.md"


def _documented_queries() -> list[str]:
    """The queries of docs/lake.md "Queries", in order (```sql blocks there)."""
    section = LAKE_DOC.read_text().split("\n## Queries\n", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0].strip() for block in section.split("```sql")[1:]]


def test_the_documented_queries_run_unchanged_in_lake_sql_and_answer_right(local: LocalApi) -> None:
    app = local.create_app("Documented queries")
    reply = local.call("POST", f"/v1/apps/{app['appId']}/sessions", json_body={"metadata": {"visitor": {"id": "v-q"}}})
    assert reply.status == 201, reply.body
    session = reply.body["sessionId"]
    yesterday = now_ms() - 86_400_000
    events = [{"type": "view", "timestamp": now_ms() + index} for index in range(3)]
    events += [{"type": "buy", "timestamp": now_ms()}, {"type": "view", "timestamp": yesterday}]
    body = {"sessionId": session, "events": events}
    assert local.call("POST", f"/v1/apps/{app['appId']}/events", json_body=body).status == 200
    update = {"metadata": {"visitor": {"id": "v-q", "plan": "pro"}}}
    assert local.call("PATCH", f"/v1/apps/{app['appId']}/sessions/{session}", json_body=update).status == 200
    rows_when(local, app, "events", 5)
    rows_when(local, app, "sessions", 2)

    def run(query: str) -> list[dict[str, Any]]:
        where = ["--local", "--state-dir", str(local.state_dir), "--app", app["appId"], "--json"]
        return list(json.loads(local.cli("lake", "sql", query.replace("<appId>", app["appId"]), *where).stdout))

    per_type, by_mode, joined = _documented_queries()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    before = time.strftime("%Y-%m-%d", time.gmtime(yesterday / 1000))
    assert run(per_type) == [
        {"day": before, "type": "view", "events": 1},
        {"day": today, "type": "buy", "events": 1},
        {"day": today, "type": "view", "events": 3},
    ]
    assert run(by_mode) == [{"mode": "unsigned", "sessions": 1}]
    rows = run(joined)
    assert len(rows) == 5 and {row["plan"] for row in rows} == {"pro"}  # the latest metadata, not the first
    assert {row["type"] for row in rows} == {"view", "buy"} and {row["mode"] for row in rows} == {"unsigned"}


def test_lake_reconcile_and_backfill_answer_in_the_documented_shape(local: LocalApi, traffic: dict[str, Any]) -> None:
    rows_when(local, traffic["app"], "events", 2)
    where = ["--local", "--state-dir", str(local.state_dir), "--app", traffic["app"]["appId"]]
    report = json.loads(local.cli("lake", "reconcile", "--hours", "3", "--json", *where).stdout)
    # The traffic's hour has not closed yet: nothing is checked, nothing is missing.
    assert set(report) == {"missing", "hours"} and report["missing"] == 0
    assert json.loads(local.cli("lake", "backfill", "--hours", "3", *where).stdout) == {"written": 0, "missing": 0}
    refused = local.cli("lake", "reconcile", "--hours", "0", *where, check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
