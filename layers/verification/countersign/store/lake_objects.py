"""The lake's objects in ExportBucket: the export path's only S3 access (SPEC 6).

Objects are written whole (a PUT is atomic: readers see all of an object or nothing) and never
changed after; a retried delivery writes the same name with the same bytes at most.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from countersign import aws, container
from countersign.config import get_config
from countersign.lake import (
    Kind,
    ObjectName,
    Partition,
    decode_object,
    line_identity,
    parse_object_key,
    start_after_key,
)


class LakeObjects:
    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self.client = client

    def ending_at_or_after(self, partition: Partition, sequence: int) -> list[ObjectName]:
        """The partition's objects whose last line is at or after `sequence` in the stream."""
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": partition.prefix,
            "StartAfter": start_after_key(partition, sequence),
        }
        names: list[ObjectName] = []
        while True:
            with aws.calling("s3"):
                answer = self.client.list_objects_v2(**request)
            names.extend(name for item in answer.get("Contents", []) if (name := parse_object_key(item["Key"])))
            if not answer.get("IsTruncated"):
                return names
            request["ContinuationToken"] = answer["NextContinuationToken"]

    def identities(self, name: ObjectName) -> set[str]:
        """What lines an object holds, by identity (eventId, or sessionId@version)."""
        kind: Kind = name.partition.kind
        return {line_identity(kind, record) for record in self.read(name.key)}

    def read(self, key: str) -> list[dict[str, Any]]:
        with aws.calling("s3"):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return decode_object(body)

    def put(self, name: ObjectName, body: bytes) -> None:
        with aws.calling("s3"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=name.key,
                Body=body,
                # Not Content-Encoding: HTTP clients would unzip it and Athena reads the bytes as stored.
                ContentType="application/gzip",
            )


@lru_cache(maxsize=1)
def lake_objects() -> LakeObjects:
    """The container's LakeObjects (one client per container; tests clear this cache)."""
    return LakeObjects(get_config().export_bucket, aws.client("s3"))


container.on_reset(lake_objects.cache_clear)
