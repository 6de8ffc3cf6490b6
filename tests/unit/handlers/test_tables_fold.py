"""The fold: landing objects into the Iceberg tables, exactly once (SPEC 6.2), on mock_aws.

Real traffic goes through the ingest function, DataTable's stream through the export function
into the landing tier (mock_aws S3); the fold then folds it into `events` and `sessions` in a
SQLite catalog with a local warehouse, while the catalog fails the ways a real commit meets:
a crash after the data files are written and before the commit, a commit whose answer is lost,
a second run that commits while the first is in flight, a run retried after it finished.
Whatever happens, every landing line is one row of its table.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from countersign.lake import KINDS, Kind, line_identity
from countersign.store.lake_objects import LakeObjects
from countersign.tables import ledger as ledgers
from countersign.tables.catalog import TableSettings, open_table
from countersign.tables.fold import fold
from countersign_dev.containers import LambdaContext
from countersign_dev.provision import REGION
from countersign_dev.stream_poller import ShardDelivery
from tests.support.lake import export_mapping, lake_lines, stream_records
from tests.support.tenant import Tenant
from tests.support.world import World

CommitHook = Callable[[Callable[[], Any]], Any]


class HookedCatalog(SqlCatalog):
    """pyiceberg's SQL catalog whose commit a test can wrap (crash, lose the answer, race)."""

    hook: CommitHook | None = None

    def commit_table(self, table: Any, requirements: Any, updates: Any) -> Any:
        def commit() -> Any:
            return SqlCatalog.commit_table(self, table, requirements, updates)

        hook, HookedCatalog.hook = HookedCatalog.hook, None  # once
        return commit() if hook is None else hook(commit)


@dataclass
class Tables:
    settings: TableSettings
    lake: LakeObjects
    expected: dict[Kind, set[str]]

    def catalog(self) -> HookedCatalog:
        return HookedCatalog("countersign", uri=self.settings.uri, warehouse=self.settings.warehouse)

    def opener(self, kind: Kind) -> Callable[[], Table]:
        return lambda: open_table(kind, self.settings, catalog=self.catalog())

    def fold(self, kind: Kind) -> Any:
        return fold(kind, self.opener(kind), self.lake)

    def identities(self, kind: Kind) -> Counter[str]:
        rows = open_table(kind, self.settings, catalog=self.catalog()).scan().to_arrow().to_pylist()
        if kind == "events":
            return Counter(f"{row['app_id']}:{row['event_id']}" for row in rows)
        return Counter(f"{row['app_id']}:{row['session_id']}@{row['metadata_version']}" for row in rows)

    def assert_exactly_once(self, kind: Kind) -> None:
        counts = self.identities(kind)
        expected = self.expected[kind]
        assert set(counts) == expected, (expected - set(counts), set(counts) - expected)
        assert [identity for identity, count in counts.items() if count != 1] == []

    def data_files(self, kind: Kind) -> set[str]:
        root = Path(self.settings.warehouse.removeprefix("file://"), kind, "data")
        return {str(path) for path in root.rglob("*.parquet")}


@pytest.fixture
def tables(world: World, tmp_path: Path) -> Tables:
    """Two applications' sessions, an update and events in the landing tier; an empty catalog."""
    now = int(time.time() * 1000)
    for _ in range(2):
        tenant = Tenant(world)
        for person in range(2):
            status, session = tenant.session({"metadata": {"visitor": {"id": f"v-{person}", "plan": "pro"}}})
            assert status == 201
            events = [
                {
                    "type": "track",
                    "name": f"e{index}",
                    "timestamp": now - index * 3_600_000,  # some in earlier hours (days, near midnight)
                    "properties": {"n": index},
                    "insertId": f"{person}-{index}",
                }
                for index in range(5)
            ]
            assert tenant.events(session["sessionId"], events)[1]["accepted"] == 5
            if person == 0:
                update = {"metadata": {"visitor": {"id": "v-0", "plan": "team"}}}
                assert tenant.sdk("PATCH", f"/sessions/{session['sessionId']}", update)[0] == 200
    export_everything(world)
    s3 = boto3.client("s3", region_name=REGION)
    bucket = world.provisioned.refs["ExportBucket"]
    expected = {kind: landing_identities(s3, bucket, kind) for kind in KINDS}
    assert len(expected["events"]) == 20 and len(expected["sessions"]) == 6
    settings = TableSettings(
        catalog="sql", namespace="countersign", warehouse=f"file://{tmp_path}/tables", uri=f"sqlite:///{tmp_path}/c.db"
    )
    return Tables(settings, LakeObjects(bucket, s3), expected)


def landing_identities(s3: Any, bucket: str, kind: Kind) -> set[str]:
    """What the landing tier holds, by application and identity (eventId is unique per application)."""
    return {f"{line['appId']}:{line_identity(kind, line)}" for line in lake_lines(s3, bucket, kind)}


def export_everything(world: World) -> None:
    """Deliver DataTable's stream to the export function as Lambda would (into the landing tier)."""
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    stream_arn = world.provisioned.attrs[("DataTable", "StreamArn")]
    mapping = export_mapping(world.template)
    records = [record for record in stream_records(streams, stream_arn) if mapping.passes(record)]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    handler = world.handler("ExportFunction")
    delivery = ShardDelivery(
        mapping,
        lambda event: handler(event, LambdaContext("ExportFunction")),
        stream_arn=stream_arn,
        shard_id=shard,
        on_failure=lambda message: pytest.fail(f"export failed: {message}"),
    )
    delivery.deliver(records)


def test_a_fold_puts_every_landing_line_in_its_table_once_typed_and_records_what_it_folded(tables: Tables) -> None:
    for kind in KINDS:
        (outcome,) = tables.fold(kind)
        assert outcome.lines == len(tables.expected[kind]) and outcome.remaining == 0
        tables.assert_exactly_once(kind)
    events = open_table("events", tables.settings, catalog=tables.catalog())
    row = events.scan(row_filter="name == 'e2'", limit=1).to_arrow().to_pylist()[0]
    assert row["event_time"].tzinfo is not None and json.loads(row["properties"]) == {"n": 2}
    assert row["verification_mode"] == "unsigned" and row["received_at"] > row["event_time"]
    summary = events.current_snapshot().summary.additional_properties  # type: ignore[union-attr]
    (ledger_file,) = [value for key, value in summary.items() if key.startswith(ledgers.LEDGER_PREFIX)]
    landing_keys = {item.key for app in tables.lake.applications("events") for item in _objects(tables, app)}
    assert ledgers.read_keys(events, ledger_file) == landing_keys
    assert summary[ledgers.OBJECTS] == str(len(landing_keys))
    sessions = open_table("sessions", tables.settings, catalog=tables.catalog()).scan().to_arrow().to_pylist()
    updated = [row for row in sessions if row["change"] == "updated"]
    assert len(updated) == 2 and all(row["changed_at"] > row["started_at"] for row in updated)
    assert {json.loads(row["visitor"])["plan"] for row in updated} == {"team"}


def test_a_retried_run_folds_nothing_twice(tables: Tables) -> None:
    tables.fold("events")
    (again,) = tables.fold("events")
    assert again.objects == 0 and again.snapshot_id is None
    tables.assert_exactly_once("events")


def test_a_crash_after_the_data_files_are_written_loses_nothing_and_adds_nothing(tables: Tables) -> None:
    def crash(commit: Callable[[], Any]) -> Any:
        raise SystemExit("the function died before its commit reached the catalog")

    HookedCatalog.hook = crash
    with pytest.raises(SystemExit):
        tables.fold("events")
    orphans = tables.data_files("events")
    assert orphans, "the crash came after the data files were written"
    assert open_table("events", tables.settings, catalog=tables.catalog()).current_snapshot() is None
    tables.fold("events")
    tables.assert_exactly_once("events")
    assert orphans < tables.data_files("events")  # written again, the first ones are nobody's


def test_a_commit_whose_answer_was_lost_is_not_folded_again(tables: Tables) -> None:
    def lose_the_answer(commit: Callable[[], Any]) -> Any:
        commit()
        raise ConnectionResetError("the catalog committed, its answer never arrived")

    HookedCatalog.hook = lose_the_answer
    with pytest.raises(ConnectionResetError):
        tables.fold("events")
    (retried,) = tables.fold("events")
    assert retried.objects == 0
    tables.assert_exactly_once("events")


def test_a_second_run_committing_while_the_first_is_in_flight_adds_nothing_twice(tables: Tables) -> None:
    def race(commit: Callable[[], Any]) -> Any:
        (other,) = tables.fold("events")  # starts and commits while the first run waits for its commit
        assert other.lines == len(tables.expected["events"])
        return commit()

    HookedCatalog.hook = race
    (first,) = tables.fold("events")
    tables.assert_exactly_once("events")
    assert first.conflicts == 1 and first.objects == 0  # refused, planned again, found nothing new
    leftovers = {Path(path).name for path in tables.data_files("events")}
    table = open_table("events", tables.settings, catalog=tables.catalog())
    referenced = {Path(task.file.file_path).name for task in table.scan().plan_files()}
    assert leftovers == referenced  # the refused run deleted its own files


def test_new_landing_objects_after_a_fold_are_folded_by_the_next_one(world: World, tables: Tables) -> None:
    tables.fold("events")
    tenant = Tenant(world)
    status, session = tenant.session({"metadata": {"visitor": {"id": "late"}}})
    assert status == 201
    assert tenant.events(session["sessionId"], [{"type": "track", "timestamp": int(time.time() * 1000)}])[0] == 200
    export_everything(world)
    s3 = boto3.client("s3", region_name=REGION)
    tables.expected["events"] = landing_identities(s3, tables.lake.bucket, "events")
    (outcome,) = tables.fold("events")
    assert outcome.lines == 1
    tables.assert_exactly_once("events")


def _objects(tables: Tables, app_id: str) -> list[Any]:
    from countersign.lake import Partition

    return [
        item
        for day in tables.lake.days("events", app_id)
        for item in tables.lake.objects(Partition("events", app_id, day))
    ]
