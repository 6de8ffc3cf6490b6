"""Keeping the tables small to read and cheap to keep (SPEC 6.2), on the tables function's hourly schedule.

    compact   each (app_id, day) partition of a closed day (before yesterday, UTC): its small data
              files (under SMALL_FILE_BYTES) read and written again as files towards 128 MB, in one
              commit that removes exactly those files and adds the new ones
    expire    snapshots older than TableSnapshotRetentionDays, but never the newest fold snapshot
              nor the ones after it (they lead to the ledger in force: ledger.py)
    sweep     files under the table's location that no retained snapshot, metadata file or ledger
              names, older than SWEEP_AFTER (longer than any run, so a fold writing its files now
              never loses them): what expired snapshots, crashed runs and refused commits left
    retire    landing objects of days older than LandingRetentionDays that the ledger names (the
              tables hold their lines), deleted; objects never folded stay to ExportRetentionDays

Every commit here is planned from the current snapshot and refused if another writer committed
first (catalog.py): the next hour plans again. Which engine at scale: this function rewrites what
fits its memory (COMPACTION_BYTES of small files per commit). The fold itself writes one file per
(app_id, day) partition per commit (two at 10,000 events/s), so a day ends with at most about 600
files even uncompacted (docs/cost-and-scale.md); where a day of one application outgrows a
function, Athena's `OPTIMIZE events REWRITE DATA USING BIN_PACK WHERE ...` does the same rewrite
(docs/lake.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from aws_lambda_powertools.metrics import MetricUnit
from pyarrow.fs import FileSelector, FileType
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.table import FileScanTask, Table

from countersign import clock
from countersign.lake import KINDS, Kind, Partition
from countersign.observability import logger, metrics
from countersign.store.lake_objects import LakeObjects, lake_objects
from countersign.tables import ledger as ledgers
from countersign.tables.catalog import TableSettings, open_catalog, open_table

#: A data file under this size is worth rewriting with its neighbours (the target is 128 MB).
SMALL_FILE_BYTES = 96 * 1024 * 1024
#: Parquet bytes one compaction commit reads at most (several times that in memory as Arrow).
COMPACTION_BYTES = 384 * 1024 * 1024
#: A file nobody references is deleted only once it is this old.
SWEEP_AFTER = timedelta(hours=2)
COMPACTION = "countersign.compaction"


@dataclass
class MaintenanceOutcome:
    kind: Kind
    files_compacted: int = 0  # small files rewritten
    files_written: int = 0  # the files they became
    snapshots_expired: int = 0
    files_deleted: int = 0  # unreferenced files swept
    landing_retired: int = 0  # landing objects deleted past their retention
    skipped: list[str] = field(default_factory=list)  # what a concurrent commit made us leave for next time


def maintain(
    kind: Kind,
    open_table: Callable[[], Table],
    lake: LakeObjects,
    *,
    now: datetime,
    snapshot_retention: timedelta,
    landing_retention: timedelta,
) -> MaintenanceOutcome:
    """Compact, expire, sweep and retire, in that order, for one table."""
    outcome = MaintenanceOutcome(kind)
    compact(open_table(), now, outcome)
    expire(open_table(), now - snapshot_retention, outcome)
    sweep(open_table(), now - SWEEP_AFTER, outcome)
    retire_landing(kind, open_table(), lake, now - landing_retention, outcome)
    return outcome


# compaction ------------------------------------------------------------------------------------


def compact(table: Table, now: datetime, outcome: MaintenanceOutcome) -> None:
    """Rewrite the small files of each closed day's partition together."""
    closed_before = (now.astimezone(UTC).date() - timedelta(days=1) - datetime(1970, 1, 1).date()).days
    groups: dict[tuple[str, int], list[FileScanTask]] = {}
    for task in table.scan().plan_files():
        app_id, day = task.file.partition[0], task.file.partition[1]
        if day is not None and day < closed_before and task.file.file_size_in_bytes < SMALL_FILE_BYTES:
            groups.setdefault((str(app_id), int(day)), []).append(task)
    for (app_id, day), tasks in sorted(groups.items()):
        chosen = _within(sorted(tasks, key=lambda task: task.file.file_size_in_bytes), COMPACTION_BYTES)
        if len(chosen) < 2:
            continue
        label = f"{app_id}/{datetime(1970, 1, 1, tzinfo=UTC).date() + timedelta(days=day)}"
        data = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue()).to_table(chosen)
        written = list(_dataframe_to_data_files(table_metadata=table.metadata, df=data, io=table.io))
        transaction = table.transaction()
        with transaction.update_snapshot(snapshot_properties={COMPACTION: label}).overwrite() as rewrite:
            for task in chosen:
                rewrite.delete_data_file(task.file)
            for data_file in written:
                rewrite.append_data_file(data_file)
        try:
            table = transaction.commit_transaction()
        except CommitFailedException:
            _delete_quietly(table, [data_file.file_path for data_file in written])
            outcome.skipped.append(label)
            return  # another writer moved the table: plan again next time
        outcome.files_compacted += len(chosen)
        outcome.files_written += len(written)


def _within(tasks: list[FileScanTask], max_bytes: int) -> list[FileScanTask]:
    chosen: list[FileScanTask] = []
    total = 0
    for task in tasks:
        if chosen and total + task.file.file_size_in_bytes > max_bytes:
            break
        chosen.append(task)
        total += task.file.file_size_in_bytes
    return chosen


# snapshots -------------------------------------------------------------------------------------


def expire(table: Table, older_than: datetime, outcome: MaintenanceOutcome) -> None:
    """Expire snapshots older than `older_than`, keeping those that lead to the ledger in force."""
    kept = ledger_chain(table)
    cutoff_ms = int(older_than.timestamp() * 1000)
    expired = [
        snapshot.snapshot_id
        for snapshot in table.snapshots()
        if snapshot.timestamp_ms < cutoff_ms and snapshot.snapshot_id not in kept
    ]
    if not expired:
        return
    try:
        table.maintenance.expire_snapshots().by_ids(expired).commit()
    except CommitFailedException:
        outcome.skipped.append("expiry")
        return
    outcome.snapshots_expired += len(expired)


def ledger_chain(table: Table) -> set[int]:
    """The current snapshot and its ancestors down to the newest fold snapshot."""
    chain: set[int] = set()
    snapshot = table.current_snapshot()
    while snapshot is not None:
        chain.add(snapshot.snapshot_id)
        if ledgers.ledger_of(snapshot) is not None or snapshot.parent_snapshot_id is None:
            break
        snapshot = table.snapshot_by_id(snapshot.parent_snapshot_id)
    return chain


# unreferenced files ----------------------------------------------------------------------------


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata, retained snapshots and ledgers name (as bucket/key or path)."""
    found = {table.metadata_location, *(entry.metadata_file for entry in table.metadata.metadata_log)}
    found.update(statistics.statistics_path for statistics in table.metadata.statistics)
    found.update(ledgers.referenced_files(table))
    seen_manifests: set[str] = set()
    for snapshot in table.snapshots():
        found.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            if manifest.manifest_path in seen_manifests:
                continue
            seen_manifests.add(manifest.manifest_path)
            found.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                found.add(entry.data_file.file_path)
    return {without_scheme(location) for location in found}


def sweep(table: Table, older_than: datetime, outcome: MaintenanceOutcome) -> None:
    """Delete the files under the table's location that nothing references, once old enough."""
    referenced = referenced_files(table)
    location = urlparse(table.location())
    filesystem = table.io.fs_by_scheme(location.scheme, location.netloc)  # type: ignore[attr-defined]
    root = f"{location.netloc}{location.path}" if location.netloc else location.path
    cutoff = older_than.timestamp()
    unreferenced = [
        info.path
        for info in filesystem.get_file_info(FileSelector(root, recursive=True, allow_not_found=True))
        if info.type == FileType.File and info.path not in referenced and info.mtime.timestamp() < cutoff
    ]
    for path in unreferenced:
        filesystem.delete_file(path)
    outcome.files_deleted += len(unreferenced)


def without_scheme(location: str) -> str:
    parsed = urlparse(location)
    return f"{parsed.netloc}{parsed.path}" if parsed.netloc else parsed.path


# landing retention -----------------------------------------------------------------------------


def retire_landing(kind: Kind, table: Table, lake: LakeObjects, before: datetime, outcome: MaintenanceOutcome) -> None:
    """Delete the landing objects of days before `before` that the table's ledger names."""
    ledger = ledgers.current_ledger(table)
    cutoff = clock.utc_day(before.timestamp())
    old_days = {day: location for day, location in ledger.files.items() if day < cutoff}
    if not old_days:
        return
    for app_id in lake.applications(kind):
        for day in set(lake.days(kind, app_id)) & set(old_days):
            held = ledgers.read_keys(table, old_days[day])
            folded = [item.key for item in lake.objects(Partition(kind, app_id, day)) if item.key in held]
            outcome.landing_retired += lake.delete(folded)


def _delete_quietly(table: Table, locations: Iterable[str]) -> None:
    for location in locations:
        try:
            table.io.delete(location)
        except Exception as error:  # noqa: BLE001 - left behind, the next sweep deletes it
            logger.warning("could not delete an unreferenced file", extra={"location": location, "error": str(error)})


# the scheduled task ----------------------------------------------------------------------------


def maintain_tables(remaining_ms: Callable[[], int]) -> dict[str, Any]:
    """The tables function's hourly maintenance of both tables, counted and logged."""
    settings = TableSettings.from_environment()
    catalog = open_catalog(settings)
    snapshot_days = float(os.environ.get("TABLE_SNAPSHOT_RETENTION_DAYS", "7"))
    landing_days = float(os.environ.get("LANDING_RETENTION_DAYS", "30"))
    done: dict[str, Any] = {}
    for kind in KINDS:
        outcome = maintain(
            kind,
            lambda kind=kind: open_table(kind, settings, catalog=catalog),  # type: ignore[misc]
            lake_objects(),
            now=clock.now(),
            snapshot_retention=timedelta(days=snapshot_days),
            landing_retention=timedelta(days=landing_days),
        )
        done[kind] = outcome.__dict__ | {"kind": kind}
    for name, attribute in (
        ("TablesFilesCompacted", "files_compacted"),
        ("TablesSnapshotsExpired", "snapshots_expired"),
        ("TablesFilesDeleted", "files_deleted"),
        ("LandingObjectsRetired", "landing_retired"),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=sum(d[attribute] for d in done.values()))
    logger.info("tables maintained", extra={"tables": done, "remaining_ms": remaining_ms()})
    return done
