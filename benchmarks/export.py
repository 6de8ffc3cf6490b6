"""(g) The export function's AWS calls per batch (SPEC 6), in-process on moto's `mock_aws`.

A batch of real stream records (what the ingest function wrote for two applications) goes through
the export handler as Lambda delivers it. Budgets: at most one S3 PUT per application, kind and
day in a batch, and no call per record: the calls of a 1,000-record batch are those of a 20-record
one. A second delivery of the same batch (a retry) writes nothing.
"""

from __future__ import annotations

import contextlib
import io
import time
from typing import Any

import boto3

from benchmarks.inprocess import IngestBench, recording
from benchmarks.report import Figure
from countersign.lake import lake_line
from countersign_dev.emulation.containers import LambdaContext
from countersign_dev.emulation.provision import REGION
from tests.support.lake import export_mapping, stream_records


def export_figures(bench: IngestBench) -> list[Figure]:
    world = bench.world
    other = IngestBench(world)  # a second application: its lines go to partitions of their own
    for _ in range(110):  # interleaved, so any 20 records in a row hold both applications' events
        for sender in (bench, other):
            sender.send(sender.new_events(5))
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    mapping = export_mapping(world.template)
    records = [
        r for r in stream_records(streams, world.provisioned.attrs[("DataTable", "StreamArn")]) if mapping.passes(r)
    ]
    handler = world.handler("ExportFunction")

    def deliver(batch: list[dict[str, Any]]) -> tuple[dict[str, int], float]:
        with recording("s3", "dynamodb") as recorded, contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            answer = handler({"Records": batch}, LambdaContext("ExportFunction"))
            took = time.perf_counter() - started
        if answer["batchItemFailures"]:
            raise RuntimeError(f"the export reported failures: {answer}")
        return dict(recorded.by_name()), took

    small, large = records[-1020:-1000], records[-1000:]  # two batches in a row, as the stream gives them
    small_calls, _ = deliver(small)
    large_calls, took = deliver(large)
    retry_calls, _ = deliver(large)
    partitions = len({line.partition for r in large if (line := lake_line(r)) is not None})
    applications = len({line.app_id for r in large if (line := lake_line(r)) is not None})
    section = f"(g) export function: AWS calls per batch ({len(large)} records, {partitions} partitions)"
    puts = large_calls.get("s3.PutObject", 0)
    return [
        *(Figure(section, name, count, "calls") for name, count in sorted(large_calls.items())),
        Figure(
            section, "S3 PUTs per partition (application, kind, day) in a batch", puts / partitions, "per partition", 1
        ),
        Figure(
            section,
            f"calls of {len(large)} records - calls of {len(small)} records",
            sum(large_calls.values()) - sum(small_calls.values()),
            "calls",
            # Same partitions, same calls: nothing grows with the number of records.
            0,
            f"{sum(small_calls.values())} calls for {len(small)} records",
        ),
        Figure(
            section,
            "DynamoDB reads per application in the batch",
            sum(v for k, v in large_calls.items() if k.startswith("dynamodb")) / applications,
            "per application",
            # One Query of the application's erased subjects (SPEC 9: no delivery brings one back),
            # never one per record.
            1,
            f"{applications} applications",
        ),
        Figure(
            section,
            "S3 PUTs when the same batch is delivered again",
            retry_calls.get("s3.PutObject", 0),
            "calls",
            0,
            "the retry makes " + ", ".join(f"{count} {name}" for name, count in sorted(retry_calls.items())),
        ),
        Figure(
            section,
            "handler time per 1,000 records (moto, in-process)",
            took * 1000 / len(large) * 1000,
            "ms",
            context="moto's S3 in this process: an order of magnitude, not a production latency",
        ),
    ]
