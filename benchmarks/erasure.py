"""(j) One erasure in the Iceberg tables (SPEC 9, issue 24): the data files it rewrites, against
those that hold the subject and those the table has, and how long it takes.

In-process on moto's `mock_aws` (the landing tier and the template's tables, which the fold reads
for erased subjects), with a SQLite catalog and a local warehouse as the unit tests use: 1,000
visitors send events over ROUNDS windows; each window's landing objects are folded by the tables
function's own code (one commit, so one data file a window), and every visitor is active in
WINDOWS_PER_VISITOR of them. Then the erasure's tables step (`countersign.tables.erasure`, what the
erasure function runs) erases one visitor, and its verification pass searches again. Budget: the
data files the erasure's commit replaces are at most those that hold the subject (nothing grows
with the table); the time is reported, with the fold of the whole table beside it, never judged.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import time
import uuid
from unittest import mock

import boto3
import pyarrow.parquet as pq
from moto import mock_aws
from pyiceberg.table import Table

from benchmarks.report import Figure
from countersign.lake import ObjectName, Partition
from countersign.store.lake_objects import LakeObjects
from countersign.tables import erasure
from countersign.tables.catalog import TableSettings, open_table
from countersign.tables.fold import fold
from countersign_dev.emulation import template
from countersign_dev.emulation.provision import REGION, provision
from tests.support.tables import sql_table_environment

VISITORS = 1000
ROUNDS = 40
WINDOWS_PER_VISITOR = 3
EVENTS_PER_VISIT = 8
APP_ID = "app_0123456789abcdef"
SUBJECT = "visitor-0421"
BUCKET = "erasure-bench"


def _visitors_of(window: int) -> list[str]:
    """Visitor v is active in windows v, v + 13 and v + 27 (mod ROUNDS): a few windows each."""
    offsets = [(13 * turn) % ROUNDS for turn in range(WINDOWS_PER_VISITOR)]
    return [f"visitor-{v:04d}" for v in range(VISITORS) if any((v + o) % ROUNDS == window for o in offsets)]


def _window_lines(window: int, now_ms: int) -> list[str]:
    lines: list[str] = []
    for visitor in _visitors_of(window):
        session = "s_" + uuid.uuid4().hex[:30]
        for index in range(EVENTS_PER_VISIT):
            event = {
                "eventId": uuid.uuid4().hex + uuid.uuid4().hex[:17],
                "appId": APP_ID,
                "sessionId": session,
                "visitorId": visitor,
                "accountId": f"account-{int(visitor[-4:]) % 90}",
                "type": "track",
                "name": f"Step {index}",
                "timestamp": now_ms - window * 300_000 + index,
                "insertId": uuid.uuid4().hex,
                "properties": {"plan": "pro", "email": f"{visitor}@example.com"},
                "receivedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now_ms / 1000)),
                "verification": {"mode": "hs256", "keyName": "key_0123456789ab"},
            }
            lines.append(json.dumps(event, separators=(",", ":")))
    return lines


def _data_files(table: Table) -> set[str]:
    """The data files the table's current snapshot reads."""
    return {task.file.file_path for task in table.scan().plan_files()}


def _holds_subject(path: str) -> bool:
    table = pq.read_table(path.removeprefix("file://"), columns=["app_id", "visitor_id"]).to_pylist()
    return any(row["app_id"] == APP_ID and row["visitor_id"] == SUBJECT for row in table)


def erasure_figures() -> list[Figure]:
    section = f"(j) one erasure in the Iceberg tables ({VISITORS:,} visitors)"
    root = tempfile.mkdtemp(prefix="erasure-bench-")
    settings = TableSettings(
        catalog="sql", namespace="bench", warehouse=f"file://{root}/tables", uri=f"sqlite:///{root}/c.db"
    )
    environment = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        **sql_table_environment(settings),
    }
    with mock.patch.dict(os.environ, environment), mock_aws():
        dynamodb, kms = boto3.client("dynamodb", region_name=REGION), boto3.client("kms", region_name=REGION)
        provisioned = provision(template.load_template(), dynamodb, kms)
        os.environ.update(CONTROL_TABLE=provisioned.refs["ControlTable"], DATA_TABLE=provisioned.refs["DataTable"])
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        lake = LakeObjects(BUCKET, s3)
        partition = Partition("events", APP_ID, time.strftime("%Y-%m-%d", time.gmtime()))
        now_ms = int(time.time() * 1000)
        folding = 0.0
        first = 1
        for window in range(ROUNDS):
            lines = _window_lines(window, now_ms)
            name = ObjectName(partition, first, first + len(lines) - 1, f"{window:012x}")
            first += len(lines)
            s3.put_object(Bucket=BUCKET, Key=name.key, Body=gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
            started = time.perf_counter()
            fold("events", lambda: open_table("events", settings), lake)
            folding += time.perf_counter() - started

        table = open_table("events", settings)
        data_files = _data_files(table)
        holding = sum(1 for path in data_files if _holds_subject(path))
        rows_before = table.scan().count()

        started = time.perf_counter()
        removed = erasure.erase(APP_ID, "visitor", SUBJECT)
        erasing = time.perf_counter() - started
        started = time.perf_counter()
        remaining = erasure.count(APP_ID, "visitor", SUBJECT)
        verifying = time.perf_counter() - started

        table = open_table("events", settings)
        after = _data_files(table)
        replaced, written = len(data_files - after), len(after - data_files)
        rows_after = table.scan().count()

    if remaining or rows_before - rows_after != removed["events"]:
        raise RuntimeError(f"the erasure left the subject behind: {remaining} remaining, {removed}")
    return [
        Figure(section, "data files in the events table", len(data_files), "files",
               context=f"{rows_before:,} rows, {ROUNDS} folds, each visitor in {WINDOWS_PER_VISITOR} windows"),
        Figure(section, "data files holding the erased visitor", holding, "files"),
        Figure(section, "data files one erasure replaces (rewritten or dropped)", replaced, "files", limit=holding,
               context=f"{written} written in their place; {removed['events']} rows removed; "
               f"{removed['filesDeleted']} files deleted with the older snapshots"),
        Figure(section, "the erasure's tables step (delete, expire, delete files)", round(erasing, 2), "s",
               context=f"the {ROUNDS} folds of the table took {folding:.1f} s"),
        Figure(section, "its verification pass (scan, byte search of every file)", round(verifying, 2), "s",
               context=f"{remaining} remaining"),
    ]  # fmt: skip
