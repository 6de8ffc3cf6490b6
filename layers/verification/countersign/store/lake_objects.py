"""The lake's objects in ExportBucket: the only S3 access to the landing tier (SPEC 6).

The export function writes them and reads back the few a retried batch may overlap; the tables
function lists and reads them to fold them into the tables (SPEC 6.2), and deletes those past
their landing retention once folded; `lake backfill` writes the lines a reconcile found missing.

Objects are written whole (a PUT is atomic: readers see all of an object or nothing). Export never
changes one after; a retried delivery writes the same name with the same bytes at most. Only an
erasure (SPEC 9) changes an object: it rewrites it under the same name without the subject's
lines, or deletes it when nothing else is left, so what folded it once still knows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from countersign import aws, container
from countersign.config import get_config
from countersign.lake import (
    KINDS,
    Kind,
    ObjectName,
    Partition,
    decode_object,
    encode_records,
    line_identity,
    parse_object_key,
    start_after_key,
)


@dataclass(frozen=True)
class LandingObject:
    key: str
    size: int


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

    def applications(self, kind: Kind) -> list[str]:
        """The applications with objects of `kind` (one `app=` folder each)."""
        return [folder[len("app=") :] for folder in self._folders(f"{kind}/") if folder.startswith("app=")]

    def days(self, kind: Kind, app_id: str) -> list[str]:
        """The UTC days (YYYY-MM-DD) an application has objects of `kind` in, oldest first."""
        folders = self._folders(f"{kind}/app={app_id}/")
        return sorted(folder[len("dt=") :] for folder in folders if folder.startswith("dt="))

    def objects(self, partition: Partition) -> list[LandingObject]:
        """Every object of one partition, in key order (stream order), with its size."""
        found: list[LandingObject] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": partition.prefix}
        while True:
            with aws.calling("s3"):
                answer = self.client.list_objects_v2(**request)
            found.extend(
                LandingObject(item["Key"], int(item["Size"]))
                for item in answer.get("Contents", [])
                if parse_object_key(item["Key"]) is not None
            )
            if not answer.get("IsTruncated"):
                return found
            request["ContinuationToken"] = answer["NextContinuationToken"]

    def read_bytes(self, key: str) -> bytes:
        with aws.calling("s3"):
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def delete(self, keys: list[str]) -> int:
        """Delete landing objects (the tables hold their lines); how many were deleted."""
        deleted = 0
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys a call
            batch = [{"Key": key} for key in keys[start : start + 1000] if parse_object_key(key) is not None]
            if not batch:
                continue
            with aws.calling("s3"):
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            deleted += len(batch) - len(answer.get("Errors", []))
        return deleted

    def _folders(self, prefix: str) -> list[str]:
        folders: list[str] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/"}
        while True:
            with aws.calling("s3"):
                answer = self.client.list_objects_v2(**request)
            folders.extend(item["Prefix"][len(prefix) :].rstrip("/") for item in answer.get("CommonPrefixes", []))
            if not answer.get("IsTruncated"):
                return folders
            request["ContinuationToken"] = answer["NextContinuationToken"]

    def app_object_keys(self, app_id: str, *, after: str | None = None) -> Iterator[str]:
        """Every landing object of the application (events and sessions, every day) in key order,
        or only those after the key `after`: listed a page at a time, as they are asked for."""
        for kind in sorted(KINDS):  # the kinds' prefixes in key order too
            request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": f"{kind}/app={app_id}/"}
            if after is not None:
                request["StartAfter"] = after  # past every key of an earlier kind: nothing listed
            while True:
                with aws.calling("s3"):
                    answer = self.client.list_objects_v2(**request)
                yield from (item["Key"] for item in answer.get("Contents", []) if parse_object_key(item["Key"]))
                if not answer.get("IsTruncated"):
                    break
                request["ContinuationToken"] = answer["NextContinuationToken"]

    def rewrite(self, key: str, records: list[dict[str, Any]]) -> None:
        """Replace an object by these of its records (an erasure); delete it when none is left."""
        with aws.calling("s3"):
            if records:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=encode_records(records), ContentType="application/gzip"
                )
            else:
                self.client.delete_object(Bucket=self.bucket, Key=key)

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
