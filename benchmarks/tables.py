"""(i) The fold (SPEC 6.2): lines per second, S3 calls per run, peak memory, and what follows at
10,000 events/s.

A fresh process lays OBJECTS landing objects of LINES_PER_OBJECT realistic event lines (one
application, one day: the shape of a busy application's 5-minute window) in moto's in-process S3,
then folds them with the tables function's own code into a SQLite catalog with a local warehouse
(the Parquet writing is the same; S3 PUTs of data files are counted from the files written). It
reports the fold's CPU-time throughput (what a Lambda function's vCPU share does), the S3 calls
of the run, and the process's peak resident memory, from which the budget figures follow:

- a 5-minute window at 10,000 events/s is 3,000,000 lines: the seconds one function needs for it
  at the measured rate, against the window (300 s);
- data files per application-day: one per (application, day) per commit, commits per window =
  the window's landing bytes over the per-commit cap (fold.MAX_COMMIT_BYTES), 288 windows a day;
  at most 1,000 (SPEC 6.2).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from benchmarks.report import Figure

OBJECTS = 60
LINES_PER_OBJECT = 1000
WINDOW_LINES = 3_000_000  # 10,000 events/s for 5 minutes
WINDOW_SECONDS = 300
WINDOWS_PER_DAY = 288

_PROBE = r"""
import gzip, json, os, resource, sys, tempfile, time, uuid
import boto3
from moto import mock_aws
os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
from countersign.lake import Partition, ObjectName
from countersign.store.lake_objects import LakeObjects
from countersign.tables.catalog import TableSettings, open_table
from countersign.tables.fold import fold

OBJECTS, LINES = int(sys.argv[1]), int(sys.argv[2])
with mock_aws():
    from countersign_dev.emulation import template as tpl
    from countersign_dev.emulation.provision import provision
    provisioned = provision(tpl.load_template(), boto3.client("dynamodb"), boto3.client("kms"))
    os.environ.update(CONTROL_TABLE=provisioned.refs["ControlTable"], DATA_TABLE=provisioned.refs["DataTable"])
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bench")
    now_ms = int(time.time() * 1000)
    landing_bytes = 0
    partition = Partition("events", "app_0123456789abcdef", time.strftime("%Y-%m-%d", time.gmtime()))
    for number in range(OBJECTS):
        lines = []
        for index in range(LINES):
            lines.append(json.dumps({
                "eventId": uuid.uuid4().hex + uuid.uuid4().hex[:17], "appId": partition.app_id,
                "sessionId": "s_" + uuid.uuid4().hex[:30], "visitorId": f"visitor-{index % 5000}",
                "accountId": f"account-{index % 300}", "type": "track", "name": f"Button {index % 40}",
                "timestamp": now_ms - index * 7, "insertId": uuid.uuid4().hex,
                "properties": {"plan": "pro", "path": f"/pricing/{index % 90}", "value": index % 1000},
                "receivedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "context": {"page": {"url": f"https://example.com/p/{index % 90}"}, "userAgent": "Mozilla/5.0 bench"},
                "verification": {"mode": "hs256", "keyName": "key_0123456789ab"},
            }, separators=(",", ":")))
        body = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
        landing_bytes += len(body)
        name = ObjectName(partition, number * LINES + 1, number * LINES + LINES, f"{number:012x}")
        s3.put_object(Bucket="bench", Key=name.key, Body=body)
    calls = {}
    def count(event_name, **_):
        calls[event_name.split(".")[-1]] = calls.get(event_name.split(".")[-1], 0) + 1
    s3.meta.events.register("before-call.s3", count)
    root = tempfile.mkdtemp()
    settings = TableSettings(catalog="sql", namespace="bench", warehouse=f"file://{root}/tables", uri=f"sqlite:///{root}/c.db")
    open_table("events", settings)  # created before timing, as on a running stack
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    outcomes = fold("events", lambda: open_table("events", settings), LakeObjects("bench", s3))
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    data_files = [p for p in __import__("pathlib").Path(root, "tables", "events", "data").rglob("*.parquet")]
    parquet_bytes = sum(p.stat().st_size for p in data_files)
    written = sum(1 for p in __import__("pathlib").Path(root, "tables").rglob("*") if p.is_file())
    print(json.dumps({
        "lines": sum(o.lines for o in outcomes),
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "wall": wall, "calls": calls, "peak_mb": after.ru_maxrss / 1024, "landing_bytes": landing_bytes,
        "parquet_bytes": parquet_bytes, "data_files": len(data_files), "files_written": written,
    }))
"""


def tables_figures() -> list[Figure]:
    from countersign.tables.fold import MAX_COMMIT_BYTES

    section = "(i) the fold into the Iceberg tables"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(OBJECTS), str(LINES_PER_OBJECT)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    lines = measured["lines"]
    rate = lines / measured["cpu"]
    s3_reads = sum(measured["calls"].values())
    bytes_per_line = measured["landing_bytes"] / lines
    window_bytes = WINDOW_LINES * bytes_per_line
    commits_per_window = math.ceil(window_bytes / MAX_COMMIT_BYTES)
    files_per_day = commits_per_window * WINDOWS_PER_DAY
    window_seconds = WINDOW_LINES / rate
    size_ratio = round(measured["parquet_bytes"] / measured["landing_bytes"], 2)
    row_note = f"{measured['parquet_bytes'] / lines:.0f} B/row in Parquet zstd"
    window_note = f"at {rate:,.0f} lines/s; {commits_per_window} commits of <= 96 MB landing"
    return [
        Figure(section, f"fold throughput ({lines:,} lines, one vCPU)", round(rate), "lines/s",
               context=f"{measured['cpu']:.1f} s CPU, {measured['wall']:.1f} s wall"),
        Figure(section, "S3 calls of the run (landing side: list + one GET per object)", s3_reads, "calls",
               context=json.dumps(measured["calls"]) + f"; table side: {measured['files_written']} files written"),
        Figure(section, "peak resident memory of the folding process", round(measured["peak_mb"]), "MB",
               context=f"{lines:,} lines, {measured['landing_bytes'] / 1e6:.1f} MB landing gzip"),
        Figure(section, "Parquet bytes per landing gzip byte", size_ratio, "x", context=row_note),
        Figure(section, "a 5-minute window at 10,000 events/s (3 M lines), one function", round(window_seconds), "s",
               limit=WINDOW_SECONDS, context=window_note),
        Figure(section, "data files per application-day at 10,000 events/s, uncompacted", files_per_day, "files",
               limit=1000, context=f"{commits_per_window} per window x {WINDOWS_PER_DAY} windows"),
    ]  # fmt: skip
