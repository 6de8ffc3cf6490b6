"""The Iceberg tables as unit tests see them: real traffic in the landing tier (mock_aws), and a
SQLite catalog with a local warehouse whose commits a test can wrap (tests/unit/handlers)."""

from __future__ import annotations

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
from countersign.tables.catalog import TableSettings, open_table
from countersign.tables.fold import fold
from countersign_dev.emulation.containers import LambdaContext
from countersign_dev.emulation.provision import REGION
from countersign_dev.emulation.stream_poller import ShardDelivery
from tests.support.lake import export_mapping, lake_lines, stream_records
from tests.support.tenant import Tenant
from tests.support.world import World

CommitHook = Callable[[Callable[[], Any]], Any]


def sql_table_environment(settings: TableSettings) -> dict[str, str]:
    """The variables a function reads its SQLite catalog from (`TableSettings.from_environment`)."""
    return {
        "TABLES_CATALOG": "sql",
        "TABLES_CATALOG_URI": settings.uri,
        "TABLES_WAREHOUSE": settings.warehouse,
        "TABLES_NAMESPACE": settings.namespace,
    }


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


def make_tables(world: World, tmp_path: Path) -> Tables:
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
