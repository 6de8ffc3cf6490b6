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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from countersign.lake import KINDS
from countersign.tables import ledger as ledgers
from countersign.tables.catalog import open_table
from countersign_dev.emulation.containers import LambdaContext
from countersign_dev.emulation.provision import REGION
from tests.support.tables import HookedCatalog, Tables, export_everything, landing_identities, sql_table_environment
from tests.support.tenant import Tenant
from tests.support.world import World


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


def test_the_tables_function_folds_both_tables_on_its_schedules_input(world: World, tables: Tables) -> None:
    handler = world.handler("TablesFunction")
    settings = tables.settings
    for name, value in sql_table_environment(settings).items():
        world.monkeypatch.setenv(name, value)
    done = handler({"task": "fold"}, LambdaContext("TablesFunction", timeout=900))
    assert done["events"]["lines"] == 20 and done["sessions"]["lines"] == 6
    assert done["events"]["waiting"] == 0 and done["events"]["refused"] == []
    for kind in KINDS:
        tables.assert_exactly_once(kind)
    maintained = handler({"task": "maintain"}, LambdaContext("TablesFunction", timeout=900))
    assert set(maintained) == set(KINDS)  # nothing is old enough yet: nothing compacted or deleted
    assert all(done["files_deleted"] == done["landing_retired"] == 0 for done in maintained.values())
    for kind in KINDS:
        tables.assert_exactly_once(kind)
    with pytest.raises(ValueError, match="unknown task"):
        handler({"task": "drop everything"}, LambdaContext("TablesFunction"))
