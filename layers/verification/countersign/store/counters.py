"""Hour-bucket counters and key/kid last use in DataTable (diagnostics and rollout insight).

    STATS#<appId>#<shard>   HOUR#<yyyy-mm-ddThh>   one hour's counters (ADD): outcomes and drops by
                                                  reason, accepted sessions and events by how they
                                                  were verified (`countersign.coverage` names them),
                                                  and the shard's one-second rate window (`rate_*`)
    USAGE#<appId>           KEY#<sha256 of name>   lastUsedMs of an HS256 key (a minute, in ms)
    USAGE#<appId>           KID#<sha256 of kid>    lastUsedMs of an RS256 kid; `name` is its label

Why this shape (docs/cost-and-scale.md has the arithmetic):
- One request adds to one bucket item in one UpdateItem (`CounterStore.add_counts`, which also
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
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from countersign import aws, container
from countersign.ascii_escape import storable, unstorable
from countersign.config import get_config
from countersign.store._attributes import number, string

COUNTER_SHARDS = 16
#: How long a bucket is kept after its hour starts: the longest coverage window (720 full hours
#: and the current one), plus a spare hour.
RETENTION_HOURS = 722
_BUCKET_PREFIX = "HOUR#"
_BUCKET_FORMAT = "%Y-%m-%dT%H"
_NOT_COUNTERS = frozenset({"pk", "sk", "ttl"})
#: The rate-window attributes `add_counts` keeps in the same items (not counters).
_RATE_PREFIX = "rate_"
#: Rate-window slots per counters item: a slot is reused after COUNTER_SHARDS * RATE_SLOTS seconds.
RATE_SLOTS = 16

UsageKind = Literal["key", "kid"]


def hour_bucket(moment: datetime) -> str:
    """The bucket a moment is counted in: its UTC hour, `2026-11-26T14` (sorts as time does)."""
    return moment.astimezone(UTC).strftime(_BUCKET_FORMAT)


def bucket_start(bucket: str) -> datetime:
    return datetime.strptime(bucket, _BUCKET_FORMAT).replace(tzinfo=UTC)


def bucket_expiry(bucket: str) -> int:
    """Epoch seconds when DynamoDB may delete the bucket (its `ttl`)."""
    return int((bucket_start(bucket) + timedelta(hours=RETENTION_HOURS)).timestamp())


def summed(hours: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Counters of several hours added up by name (what `CounterStore.totals` answers)."""
    totals: dict[str, int] = {}
    for counters in hours:
        for name, value in counters.items():
            totals[name] = totals.get(name, 0) + value
    return totals


class CounterStore:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    # hour buckets ------------------------------------------------------------------------------

    def add_counts(self, app_id: str, counts: dict[str, int], *, family: str = "sdk", now: float | None = None) -> int:
        """ADD to the application's counters and count this request in its rate window.

        One UpdateItem, the one the request makes anyway. Returns how many requests of `family`
        the application has made in the current one-second window, from every container (the
        rate limit of `countersign.tenancy` compares it with the application's limit).

        The counters item is the current hour's bucket (diagnostics and coverage read the buckets of a
        window through `totals`; it expires with its `ttl`) in the shard of the current
        second (`second % COUNTER_SHARDS`), so each
        shard takes one second in sixteen of an application's writes, and the rate window is
        that item's slot attributes: `rate_<family>_n<slot>` (requests) and `rate_<family>_w<slot>`
        (which second they belong to). The write removes the item's other slots; a slot left from
        RATE_SLOTS cycles ago (same slot, no write since) is seen in the returned old second and
        taken back by one corrective ADD, the only case with a second call.
        """
        second = int(time.time() if now is None else now)
        shard, slot = second % COUNTER_SHARDS, (second // COUNTER_SHARDS) % RATE_SLOTS
        counts = {name: value for name, value in counts.items() if value}
        requests, window = _rate_attributes(family, slot)
        names = {"#rn": requests, "#rw": window, **{f"#c{i}": name for i, name in enumerate(counts)}}
        values = {
            ":one": number(1),
            ":second": number(second),
            **{f":c{i}": number(v) for i, v in enumerate(counts.values())},
        }
        additions = ["#rn :one", *(f"#c{i} :c{i}" for i in range(len(counts)))]
        others = [name for other in range(RATE_SLOTS) if other != slot for name in _rate_attributes(family, other)]
        bucket = hour_bucket(datetime.fromtimestamp(second, UTC))
        key = _bucket_key(app_id, shard, bucket)
        with aws.calling("dynamodb"):
            old = self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=f"ADD {', '.join(additions)} SET #rw = :second, #ttl = :ttl "
                f"REMOVE {', '.join(others)}",
                ExpressionAttributeNames={**names, "#ttl": "ttl"},
                ExpressionAttributeValues={**values, ":ttl": number(bucket_expiry(bucket))},
                # The whole old item (no read capacity): its slot says which second it counted.
                ReturnValues="ALL_OLD",
            ).get("Attributes", {})
        old_second = int(old[window]["N"]) if window in old else None
        old_requests = int(old[requests]["N"]) if requests in old else 0
        if old_second == second:
            return old_requests + 1
        if old_requests:  # a slot left from RATE_SLOTS cycles ago: take its count back
            try:
                with aws.calling("dynamodb"):
                    self.client.update_item(
                        TableName=self.table,
                        Key=key,
                        UpdateExpression="ADD #rn :back",
                        ConditionExpression="#rw = :second",
                        ExpressionAttributeNames={"#rn": requests, "#rw": window},
                        ExpressionAttributeValues={":back": number(-old_requests), ":second": number(second)},
                    )
            except self.client.exceptions.ConditionalCheckFailedException:
                pass  # the slot already belongs to a later second: nothing of ours is left in it
        return 1

    def add_outcomes(self, app_id: str, counts: dict[str, int], *, now: float | None = None) -> None:
        """ADD to the application's counters of the current hour without counting a request in a
        rate window (a drop's diagnostics: refused requests spend no application's budget)."""
        second = int(time.time() if now is None else now)
        counts = {name: value for name, value in counts.items() if value}
        if not counts:
            return
        bucket = hour_bucket(datetime.fromtimestamp(second, UTC))
        with aws.calling("dynamodb"):
            self.client.update_item(
                TableName=self.table,
                Key=_bucket_key(app_id, second % COUNTER_SHARDS, bucket),
                UpdateExpression=f"ADD {', '.join(f'#c{i} :c{i}' for i in range(len(counts)))} SET #ttl = :ttl",
                ExpressionAttributeNames={"#ttl": "ttl", **{f"#c{i}": name for i, name in enumerate(counts)}},
                ExpressionAttributeValues={
                    ":ttl": number(bucket_expiry(bucket)),
                    **{f":c{i}": number(value) for i, value in enumerate(counts.values())},
                },
            )

    def totals(self, app_id: str, since: datetime, until: datetime) -> dict[str, int]:
        """Every counter summed over the buckets of the hours from `since` to `until`, every shard."""
        return summed(self.hourly(app_id, since, until).values())

    def hourly(self, app_id: str, since: datetime, until: datetime) -> dict[datetime, dict[str, int]]:
        """Every counter of each hour from `since` to `until` that has any, by the hour's start,
        shards summed (one Query per shard, as `totals`)."""
        first, last = hour_bucket(since), hour_bucket(until)
        hours: dict[datetime, dict[str, int]] = {}
        for shard in range(COUNTER_SHARDS):
            request: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
                "ExpressionAttributeValues": {
                    ":pk": _stats_partition(app_id, shard),
                    ":first": string(_BUCKET_PREFIX + first),
                    ":last": string(_BUCKET_PREFIX + last),
                },
            }
            while True:
                with aws.calling("dynamodb"):
                    page = self.client.query(**request)
                for item in page.get("Items", []):
                    counters = hours.setdefault(bucket_start(item["sk"]["S"].removeprefix(_BUCKET_PREFIX)), {})
                    for name, value in item.items():
                        if name not in _NOT_COUNTERS and not name.startswith(_RATE_PREFIX):
                            counters[name] = counters.get(name, 0) + int(value["N"])
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return hours

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


def _rate_attributes(family: str, slot: int) -> tuple[str, str]:
    """The counters item's attributes for one rate-window slot: (requests, second)."""
    return f"{_RATE_PREFIX}{family}_n{slot}", f"{_RATE_PREFIX}{family}_w{slot}"


def _stats_partition(app_id: str, shard: int) -> dict[str, str]:
    return string(f"STATS#{app_id}#{shard}")


def _bucket_key(app_id: str, shard: int, bucket: str) -> dict[str, Any]:
    return {"pk": _stats_partition(app_id, shard), "sk": string(_BUCKET_PREFIX + bucket)}


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
