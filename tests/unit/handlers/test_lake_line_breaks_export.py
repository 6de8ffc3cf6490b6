"""Events holding every Unicode line-break character go through the export, its retries, the
redrive and the CLI's lake reader exactly once (issue 21, defects 3 and 4)."""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import replace
from typing import Any

import boto3

from countersign_dev.emulation.containers import LambdaContext
from countersign_dev.emulation.provision import REGION
from countersign_dev.emulation.stream_poller import ShardDelivery
from countersign_dev.lake import LakeTarget, read_lines, redrive_message
from tests.support.lake import export_mapping, identity_counts, lake_keys, stream_records
from tests.support.tenant import Tenant
from tests.support.world import World

EVERY_LINE_BREAK = ["\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def _traffic(world: World) -> tuple[Tenant, list[dict[str, Any]], list[str]]:
    """One event per line-break character (in its name and properties); the filtered stream records."""
    tenant = Tenant(world)
    status, session = tenant.session({"metadata": {"visitor": {"id": "v\u20281"}, "account": {"id": "a\u2029"}}})
    assert status == 201, session
    now = int(time.time() * 1000)
    names = [f"before{brk}after" for brk in EVERY_LINE_BREAK]
    events = [
        {"type": "line_break", "name": name, "timestamp": now, "properties": {f"k{name}": [name, {"v": name}]}}
        for name in names
    ]
    status, answer = tenant.events(session["sessionId"], events)
    assert status == 200 and answer["accepted"] == len(events), answer
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    mapping = export_mapping(world.template)
    records = [
        r for r in stream_records(streams, world.provisioned.attrs[("DataTable", "StreamArn")]) if mapping.passes(r)
    ]
    return tenant, records, names


def _deliver(world: World, records: list[dict[str, Any]], **changes: Any) -> list[dict[str, Any]]:
    """Deliver like Lambda's event source mapping; returns what went to the dead-letter queue."""
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    stream_arn = world.provisioned.attrs[("DataTable", "StreamArn")]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    failed: list[dict[str, Any]] = []
    delivery = ShardDelivery(
        replace(export_mapping(world.template), **changes),
        lambda event: world.handler("ExportFunction")(event, LambdaContext("ExportFunction")),
        stream_arn=stream_arn,
        shard_id=shard,
        on_failure=failed.append,
    )
    delivery.deliver(records)
    return failed


def _assert_exactly_once(world: World, records: list[dict[str, Any]]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    counts = identity_counts(s3, world.provisioned.refs["ExportBucket"])
    assert len(counts) == len(records) and set(counts.values()) == {1}, counts


def test_retries_and_the_cli_read_back_lines_holding_every_line_break(world: World) -> None:
    tenant, records, names = _traffic(world)
    assert _deliver(world, records, batch_size=4) == []
    # A retry overlapping what is written reads those objects back (to skip their lines).
    assert _deliver(world, records, batch_size=1000) == []
    assert _deliver(world, records[3:], batch_size=3) == []
    _assert_exactly_once(world, records)
    target = LakeTarget(boto3.client("s3", region_name=REGION), world.provisioned.refs["ExportBucket"])
    lines = read_lines(target, "events", app=tenant.app_id, dt=None)
    assert sorted(line["name"] for line in lines) == sorted(names)
    assert all(line["properties"] == {f"k{line['name']}": [line["name"], {"v": line["name"]}]} for line in lines)
    (session,) = read_lines(target, "sessions", app=tenant.app_id, dt=None)
    assert (session["visitorId"], session["accountId"]) == ("v\u20281", "a\u2029")


def test_the_redrive_reads_objects_an_earlier_version_wrote_with_raw_separators(world: World) -> None:
    _, records, _ = _traffic(world)
    assert _deliver(world, records[: len(records) // 2], batch_size=1000) == []
    # What the previous writer stored: U+0085, U+2028 and U+2029 raw inside the JSON strings.
    s3 = boto3.client("s3", region_name=REGION)
    bucket = world.provisioned.refs["ExportBucket"]
    for kind in ("events", "sessions"):
        for key in lake_keys(s3, bucket, kind):
            text = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode()
            raw = "".join(
                json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":")) + "\n"
                for line in text.split("\n")
                if line
            )
            assert "\u2028" in raw or kind == "sessions"
            s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(raw.encode()))
    stream_arn = world.provisioned.attrs[("DataTable", "StreamArn")]
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    message = {
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "streamArn": stream_arn,
            "batchSize": len(records),
        }
    }
    written = redrive_message(message, streams, s3, bucket)
    assert written == len(records) - len(records) // 2
    _assert_exactly_once(world, records)
