"""Maintenance of the tables (SPEC 6.2): compaction of closed days, snapshot expiry, unreferenced
files deleted, landing objects retired once folded - and through all of it, every landing line
still one row, and the next fold still knowing what it folded."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from countersign import clock
from countersign.lake import KINDS
from countersign.tables.catalog import open_table
from countersign.tables.maintenance import MaintenanceOutcome, compact, expire, maintain, referenced_files, sweep
from countersign_dev.emulation.provision import REGION
from tests.support.tables import HookedCatalog, Tables, export_everything, landing_identities
from tests.support.tenant import Tenant
from tests.support.world import World

LATER = timedelta(days=5)  # every day of the test's data is closed by then


def more_traffic(world: World, tables: Tables, batches: int) -> None:
    """`batches` more batches of events, each exported and folded on its own: a small file each."""
    tenant = Tenant(world)
    status, session = tenant.session({"metadata": {"visitor": {"id": "later"}}})
    assert status == 201
    for batch in range(batches):
        events = [
            {"type": "track", "timestamp": int(time.time() * 1000) - 3_600_000, "insertId": f"{batch}-{index}"}
            for index in range(3)
        ]
        assert tenant.events(session["sessionId"], events)[1]["accepted"] == 3
        export_everything(world)
        tables.fold("events")
    s3 = boto3.client("s3", region_name=REGION)
    tables.expected["events"] = landing_identities(s3, tables.lake.bucket, "events")


def partition_files(tables: Tables) -> Counter[tuple[Any, Any]]:
    table = open_table("events", tables.settings, catalog=tables.catalog())
    return Counter((task.file.partition[0], task.file.partition[1]) for task in table.scan().plan_files())


def on_disk(tables: Tables, kind: str) -> set[str]:
    root = Path(tables.settings.warehouse.removeprefix("file://"), kind)
    return {str(path) for path in root.rglob("*") if path.is_file()}


def test_small_files_of_a_closed_day_become_one_and_every_row_stays_once(world: World, tables: Tables) -> None:
    tables.fold("events")
    more_traffic(world, tables, batches=3)
    before = partition_files(tables)
    assert max(before.values()) == 3  # the new application: one small file per fold
    outcome = MaintenanceOutcome("events")
    compact(open_table("events", tables.settings, catalog=tables.catalog()), clock.now() + LATER, outcome)
    assert outcome.files_compacted == sum(count for count in before.values() if count > 1)
    assert set(partition_files(tables).values()) == {1}  # one file per application and day
    tables.assert_exactly_once("events")


def test_todays_and_yesterdays_files_are_left_to_grow(world: World, tables: Tables) -> None:
    tables.fold("events")
    more_traffic(world, tables, batches=2)
    before = partition_files(tables)
    outcome = MaintenanceOutcome("events")
    compact(open_table("events", tables.settings, catalog=tables.catalog()), clock.now(), outcome)
    assert outcome.files_compacted == 0 and partition_files(tables) == before


def test_a_compaction_refused_by_a_concurrent_fold_changes_nothing_and_leaves_no_file(
    world: World, tables: Tables
) -> None:
    tables.fold("events")
    more_traffic(world, tables, batches=2)
    before = partition_files(tables)
    files_before = on_disk(tables, "events")

    def fold_first(commit: Any) -> Any:
        more_traffic(world, tables, batches=1)  # a fold commits while compaction waits for its commit
        return commit()

    HookedCatalog.hook = fold_first
    outcome = MaintenanceOutcome("events")
    compact(open_table("events", tables.settings, catalog=tables.catalog()), clock.now() + LATER, outcome)
    assert outcome.files_compacted == 0 and outcome.skipped
    tables.assert_exactly_once("events")
    assert sum(partition_files(tables).values()) == sum(before.values()) + 1
    # Only the fold's files are new: its data file, manifest, manifest list, ledger and metadata file.
    assert len(on_disk(tables, "events") - files_before) == 5


def test_expiry_and_the_sweep_delete_what_no_snapshot_needs_and_the_next_fold_still_knows_its_ledger(
    world: World, tables: Tables
) -> None:
    def crash(commit: Any) -> Any:
        raise SystemExit("died before the commit")

    HookedCatalog.hook = crash
    with pytest.raises(SystemExit):
        tables.fold("events")  # leaves data and ledger files nobody references
    tables.fold("events")
    more_traffic(world, tables, batches=2)
    later = clock.now() + LATER
    outcome = maintain(
        "events",
        lambda: open_table("events", tables.settings, catalog=tables.catalog()),
        tables.lake,
        now=later,
        snapshot_retention=timedelta(0),
        landing_retention=timedelta(days=30),
    )
    # Snapshots: three folds and the compaction. Kept: the compaction (current) and the newest fold,
    # whose summary holds the ledger in force; expired: the two older folds.
    assert outcome.files_compacted == 2 and outcome.snapshots_expired == 2 and outcome.files_deleted > 0
    table = open_table("events", tables.settings, catalog=tables.catalog())
    assert [snapshot.summary.operation.value for snapshot in table.snapshots()] == ["append", "overwrite"]
    assert on_disk(tables, "events") == {"/" + path.lstrip("/") for path in referenced_files(table)}
    tables.assert_exactly_once("events")
    (again,) = tables.fold("events")
    assert again.objects == 0  # the ledger in force survived expiry
    tables.assert_exactly_once("events")


def test_landing_objects_past_their_retention_are_deleted_only_once_folded(world: World, tables: Tables) -> None:
    for kind in KINDS:
        tables.fold(kind)
    tenant = Tenant(world)
    status, session = tenant.session({"metadata": {"visitor": {"id": "unfolded"}}})
    assert status == 201
    assert tenant.events(session["sessionId"], [{"type": "late", "timestamp": int(time.time() * 1000)}])[0] == 200
    export_everything(world)  # landed, not folded yet
    outcome = maintain(
        "events",
        lambda: open_table("events", tables.settings, catalog=tables.catalog()),
        tables.lake,
        now=clock.now() + LATER,
        snapshot_retention=timedelta(days=7),
        landing_retention=timedelta(days=2),
    )
    s3 = boto3.client("s3", region_name=REGION)
    left = landing_identities(s3, tables.lake.bucket, "events")
    assert outcome.landing_retired > 0
    assert left and not (left & tables.expected["events"])  # only the unfolded object's line is left
    tables.assert_exactly_once("events")


def test_the_sweep_spares_a_young_unreferenced_file(tables: Tables) -> None:
    def crash(commit: Any) -> Any:
        raise SystemExit("died before the commit")

    HookedCatalog.hook = crash
    with pytest.raises(SystemExit):
        tables.fold("events")
    tables.fold("events")
    table = open_table("events", tables.settings, catalog=tables.catalog())
    files = on_disk(tables, "events")
    outcome = MaintenanceOutcome("events")
    sweep(table, clock.now() - timedelta(hours=2), outcome)  # a run in flight may still commit them
    assert outcome.files_deleted == 0 and on_disk(tables, "events") == files
    expire(table, clock.now() - timedelta(days=7), outcome)
    assert outcome.snapshots_expired == 0
