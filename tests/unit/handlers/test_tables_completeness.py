"""Completeness (SPEC 6.3): a batch lost past the stream's 24 hours is found by reconcile, and
backfill puts it back exactly once; erased events are never missing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import boto3
import pytest
from pyiceberg.table import Table

from countersign import clock
from countersign.lake import Partition
from countersign.store.data import DataStore
from countersign.tables.catalog import existing_table, open_table
from countersign.tables.completeness import backfill, closed_hours, reconcile, report_json
from countersign_dev.emulation.provision import REGION
from tests.support.tables import Tables, sql_table_environment
from tests.support.world import World

LATER = timedelta(hours=2)  # the hour the traffic was received in is closed by then


def lose_one_events_object(tables: Tables) -> tuple[str, int]:
    """Delete one application's landing events object, as if its batch never reached the lake."""
    app_id = sorted(tables.lake.applications("events"))[0]
    (day,) = tables.lake.days("events", app_id)
    (lost, *_) = tables.lake.objects(Partition("events", app_id, day))
    lines = len(tables.lake.read(lost.key))
    boto3.client("s3", region_name=REGION).delete_object(Bucket=tables.lake.bucket, Key=lost.key)
    return app_id, lines


def opener(tables: Tables) -> Callable[[], Table]:
    return tables.opener("events")


def test_reconcile_finds_a_lost_batch_and_backfill_puts_it_back_exactly_once(world: World, tables: Tables) -> None:
    data = DataStore(world.data_table, world.dynamodb)
    apps = sorted(tables.lake.applications("events"))
    lost_app, lost_lines = lose_one_events_object(tables)
    tables.fold("events")
    reports = reconcile(opener(tables)(), data, apps, now=clock.now() + LATER)
    answer = report_json(reports)
    assert answer["missing"] == lost_lines == 10
    (short,) = [hour for hour in answer["hours"] if hour["missing"]]
    assert short["appId"] == lost_app and short["accepted"] == 10 and short["inTables"] == 0
    assert set(short) == {"appId", "hour", "accepted", "inTables", "missing"}
    assert sum(hour["accepted"] for hour in answer["hours"]) == 20

    written = backfill(reports, opener(tables), data, tables.lake)
    assert written == lost_lines
    tables.assert_exactly_once("events")  # every accepted event, the lost ones included, once
    assert report_json(reconcile(opener(tables)(), data, apps, now=clock.now() + LATER))["missing"] == 0
    # Backfilling again finds nothing to write, and a scheduled fold adds nothing twice.
    assert (
        backfill(reconcile(opener(tables)(), data, apps, now=clock.now() + LATER), opener(tables), data, tables.lake)
        == 0
    )
    (again,) = tables.fold("events")
    assert again.objects == 0
    tables.assert_exactly_once("events")


def test_an_erased_event_is_never_missing(world: World, tables: Tables) -> None:
    data = DataStore(world.data_table, world.dynamodb)
    lost_app, _ = lose_one_events_object(tables)
    tables.fold("events")
    reports = reconcile(opener(tables)(), data, [lost_app], now=clock.now() + LATER)
    (report,) = [report for report in reports if report.missing]
    erased = report.missing_keys[0]
    world.dynamodb.delete_item(
        TableName=world.data_table, Key={"pk": {"S": f"EVENT#{lost_app}#{erased}"}, "sk": {"S": "EVENT"}}
    )
    (after,) = [r for r in reconcile(opener(tables)(), data, [lost_app], now=clock.now() + LATER) if r.missing]
    assert erased not in after.missing_keys and after.missing == report.missing - 1
    assert after.accepted == report.accepted - 1


def test_only_closed_hours_inside_the_dedupe_window_are_checked() -> None:
    now = clock.now().replace(minute=10)
    window = timedelta(days=7)
    hours = closed_hours(now, hours=None, window=window)
    assert hours[-1] + timedelta(hours=1) <= now - timedelta(minutes=20)  # ended, and settled
    assert hours[0] > now - window and len(hours) == 7 * 24 - 2
    assert closed_hours(now, hours=3, window=window) == hours[-3:]


def test_a_fresh_hour_is_not_reported_before_the_fold_could_take_it(world: World, tables: Tables) -> None:
    data = DataStore(world.data_table, world.dynamodb)
    apps = sorted(tables.lake.applications("events"))
    assert reconcile(open_table("events", tables.settings, catalog=tables.catalog()), data, apps, now=clock.now()) == []


def test_the_reconcile_function_publishes_the_hourly_report_and_creates_no_table(
    world: World, tables: Tables, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = world.handler("ReconcileFunction")  # sets the template's environment: Glue, then
    for name, value in sql_table_environment(tables.settings).items():  # the test's SQLite catalog
        monkeypatch.setenv(name, value)
    later = clock.now() + LATER
    monkeypatch.setattr(clock, "now", lambda: later)  # two hours on: the traffic's hour is closed
    capsys.readouterr()

    # Before the first fold there is no table: every accepted event is missing, and the reconcile,
    # which only reads, leaves the table to the fold to create.
    before = handler({}, world.context("ReconcileFunction"))
    assert before["missing"] == 20 and existing_table("events", tables.settings) is None

    _, lost_lines = lose_one_events_object(tables)
    tables.fold("events")
    after = handler({}, world.context("ReconcileFunction"))
    assert after["missing"] == lost_lines == 10
    published = [
        document["TablesMissingEvents"]
        for document in map(json.loads, capsys.readouterr().out.splitlines())
        if "TablesMissingEvents" in document
    ]
    assert published == [[20.0], [10.0]]
