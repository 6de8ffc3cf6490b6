"""The data lake as tests see it: DataTable's stream records (Lambda's shape) and the lines in S3.

Shared by the in-process export tests (mock_aws) and the local stack's integration tests.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from countersign.lake import KINDS, Kind, line_identity, parse_object_key
from countersign.store.lake_objects import LakeObjects
from countersign_dev.emulation.stream_poller import StreamMapping, lambda_shape, stream_mappings


def export_mapping(template: dict[str, Any]) -> StreamMapping:
    """The ExportFunction's event source mapping, read from template.yaml."""
    (mapping,) = [m for m in stream_mappings(template) if m.function == "ExportFunction"]
    return mapping


def stream_records(dynamodb_streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Every record of the table's stream so far, in order, as Lambda hands them over (unfiltered)."""
    shard = dynamodb_streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = dynamodb_streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    while True:
        answer = dynamodb_streams.get_records(ShardIterator=iterator, Limit=1000)
        if not answer["Records"]:
            return records
        records.extend(lambda_shape(record, stream_arn) for record in answer["Records"])
        iterator = answer["NextShardIterator"]


def lake_lines(s3: Any, bucket: str, kind: Kind, app_id: str | None = None) -> list[dict[str, Any]]:
    """Every line of `kind` in the lake (of one application if given), object by object."""
    lake = LakeObjects(bucket, s3)
    lines: list[dict[str, Any]] = []
    for key in lake_keys(s3, bucket, kind, app_id):
        lines.extend(lake.read(key))
    return lines


def lake_keys(s3: Any, bucket: str, kind: Kind, app_id: str | None = None) -> list[str]:
    prefix = f"{kind}/" + (f"app={app_id}/" if app_id else "")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    assert all(parse_object_key(key) is not None for key in keys), keys
    return keys


def identity_counts(s3: Any, bucket: str) -> Counter[str]:
    """How many lines of the whole lake each identity has (exactly once: every count is 1)."""
    counts: Counter[str] = Counter()
    for kind in KINDS:
        counts.update(f"{kind}:{line_identity(kind, line)}" for line in lake_lines(s3, bucket, kind))
    return counts
