"""Hour-bucket counters and key/kid last use in DataTable (diagnostics and rollout insight).

    STATS#<appId>#<shard>   HOUR#<yyyy-mm-ddThh>   one hour's counters (ADD): outcomes and drops by
                                                  reason, accepted sessions and events by how they
                                                  were verified (`countersign.coverage` names them)
    USAGE#<appId>           KEY#<sha256 of name>   lastUsedMs of an HS256 key (a minute, in ms)
    USAGE#<appId>           KID#<sha256 of kid>    lastUsedMs of an RS256 kid; `name` is its label

Why this shape (docs/cost-and-scale.md has the arithmetic):
- One request adds to one bucket item in one UpdateItem (`DataStore.add_counts`, which also
  counts the request in its rate window): an events batch adds its outcomes and its accepted
  events by verification mode together, so coverage costs the ingest path no write.
  Buckets are sharded COUNTER_SHARDS ways, as the counters always were, so no single item takes
  every write of a busy application; a read sums the shards over a range of hours (one Query per
  shard). Buckets expire RETENTION_HOURS after their hour starts.
- Last use is written at most once a minute per key per container (`countersign.key_usage`), as
  a conditional SET that only moves it forward. It never expires: "never used" must stay true
  only while it is true. Its sort key is a digest, so any kid fits DynamoDB's key size.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from countersign import aws, container
from countersign.config import get_config
from countersign.store._attributes import number, string

COUNTER_SHARDS = 16
#: How long a bucket is kept after its hour starts: the longest coverage window (720 full hours
#: and the current one), plus a spare hour.
RETENTION_HOURS = 722
BUCKET_PREFIX = "HOUR#"
_BUCKET_FORMAT = "%Y-%m-%dT%H"
_NOT_COUNTERS = frozenset({"pk", "sk", "ttl"})
#: The rate-window attributes `DataStore.add_counts` keeps in the same items (not counters).
RATE_PREFIX = "rate_"

UsageKind = Literal["key", "kid"]


def hour_bucket(moment: datetime) -> str:
    """The bucket a moment is counted in: its UTC hour, `2026-11-26T14` (sorts as time does)."""
    return moment.astimezone(UTC).strftime(_BUCKET_FORMAT)


def bucket_start(bucket: str) -> datetime:
    return datetime.strptime(bucket, _BUCKET_FORMAT).replace(tzinfo=UTC)


def bucket_expiry(bucket: str) -> int:
    """Epoch seconds when DynamoDB may delete the bucket (its `ttl`)."""
    return int((bucket_start(bucket) + timedelta(hours=RETENTION_HOURS)).timestamp())


def storable(text: str) -> str:
    """`text` as its ASCII JSON escape without the quotes: valid in any attribute name or value
    (a lone surrogate, which UTF-8 cannot carry, included) and read back exactly by `unstorable`."""
    return json.dumps(text)[1:-1]


def unstorable(stored: str) -> str:
    return str(json.loads(f'"{stored}"'))


class CounterStore:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    # hour buckets ------------------------------------------------------------------------------

    def totals(self, app_id: str, since: datetime, until: datetime) -> dict[str, int]:
        """Every counter summed over the buckets of the hours from `since` to `until`, every shard."""
        first, last = hour_bucket(since), hour_bucket(until)
        totals: dict[str, int] = {}
        for shard in range(COUNTER_SHARDS):
            request: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
                "ExpressionAttributeValues": {
                    ":pk": string(f"STATS#{app_id}#{shard}"),
                    ":first": string(BUCKET_PREFIX + first),
                    ":last": string(BUCKET_PREFIX + last),
                },
            }
            while True:
                with aws.calling("dynamodb"):
                    page = self.client.query(**request)
                for item in page.get("Items", []):
                    for name, value in item.items():
                        if name not in _NOT_COUNTERS and not name.startswith(RATE_PREFIX):
                            totals[name] = totals.get(name, 0) + int(value["N"])
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return totals

    # last use ----------------------------------------------------------------------------------

    def touch(self, app_id: str, kind: UsageKind, name: str, *, minute_ms: int) -> None:
        """Move the last use of a key or kid forward to `minute_ms` (never back)."""
        try:
            with aws.calling("dynamodb"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_usage_key(app_id, kind, name),
                    UpdateExpression="SET lastUsedMs = :at, #name = :name",
                    ConditionExpression="attribute_not_exists(lastUsedMs) OR lastUsedMs < :at",
                    ExpressionAttributeNames={"#name": "name"},
                    ExpressionAttributeValues={":at": number(minute_ms), ":name": string(storable(name))},
                )
        except self.client.exceptions.ConditionalCheckFailedException:
            pass  # another container already wrote this minute or a later one

    def last_used(self, app_id: str, kind: UsageKind) -> dict[str, int]:
        """name -> lastUsedMs of every key (or kid) of the application ever used (one Query)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :kind)",
            "ExpressionAttributeValues": {":pk": string(f"USAGE#{app_id}"), ":kind": string(_usage_prefix(kind))},
        }
        used: dict[str, int] = {}
        while True:
            with aws.calling("dynamodb"):
                page = self.client.query(**request)
            for item in page.get("Items", []):
                used[unstorable(item["name"]["S"])] = int(item["lastUsedMs"]["N"])
            if "LastEvaluatedKey" not in page:
                return used
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def last_used_of(self, app_id: str, kind: UsageKind, name: str) -> int | None:
        """lastUsedMs of one key or kid, or None if it was never used."""
        with aws.calling("dynamodb"):
            item = self.client.get_item(TableName=self.table, Key=_usage_key(app_id, kind, name)).get("Item")
        return int(item["lastUsedMs"]["N"]) if item else None


def _usage_prefix(kind: UsageKind) -> str:
    return "KEY#" if kind == "key" else "KID#"


def _usage_key(app_id: str, kind: UsageKind, name: str) -> dict[str, Any]:
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    return {"pk": string(f"USAGE#{app_id}"), "sk": string(_usage_prefix(kind) + digest)}


@lru_cache(maxsize=1)
def counter_store() -> CounterStore:
    """The container's CounterStore (one client per container; tests clear this cache)."""
    return CounterStore(get_config().data_table, aws.client("dynamodb"))


container.on_reset(counter_store.cache_clear)
