"""Which JWKS URIs passed their test, in ControlTable: what `PUT /jwks-uri` checks before saving (SPEC 3.2).

    APP#<appId>   JWKSTEST#<sha256(uri)>   uri, testedAt (ISO 8601 UTC), ttl (epoch seconds)

One item per application and exact URI string, rewritten by each successful test and deleted by a
failed one. The hash keeps the sort key short whatever the URI's length; the stored `uri` is
compared on read, so only the exact string that was tested matches. DynamoDB's TTL only tidies up
(it deletes expired items eventually, not on time): the 15-minute rule reads `testedAt`
(see `countersign.jwks_uri`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from typing import Any

from countersign import aws, clock, container
from countersign.config import get_config
from countersign.store._attributes import app_key, number, string

TEST_PREFIX = "JWKSTEST#"


def record_sort_key(uri: str) -> str:
    """The sort key of `uri`'s test record: the prefix and the SHA-256 of its UTF-8 bytes, in hex."""
    return TEST_PREFIX + hashlib.sha256(uri.encode("utf-8")).hexdigest()


class JwksUriPasses:
    """When each JWKS URI last passed `test`, per application, in ControlTable."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def record_success(self, app_id: str, uri: str, tested_at: datetime, expires_at: datetime) -> None:
        """Remember that `uri` passed `test` for `app_id` at `tested_at` (replaces an older record)."""
        with aws.calling("dynamodb"):
            self.client.put_item(
                TableName=self.table,
                Item={
                    **app_key(app_id, record_sort_key(uri)),
                    "uri": string(uri),
                    "testedAt": string(clock.iso(tested_at)),
                    "ttl": number(int(expires_at.timestamp())),
                },
            )

    def last_success(self, app_id: str, uri: str) -> datetime | None:
        """When exactly `uri` last passed `test` for `app_id`, or None (never, or since forgotten)."""
        with aws.calling("dynamodb"):
            item = self.client.get_item(
                TableName=self.table,
                Key=app_key(app_id, record_sort_key(uri)),
                ConsistentRead=True,  # a save right after its test must see it
            ).get("Item")
        if not item or item.get("uri", {}).get("S") != uri:
            return None
        return clock.parse_iso(item["testedAt"]["S"])

    def forget(self, app_id: str, uri: str) -> None:
        """Drop `uri`'s record: its latest test failed, so an earlier success no longer counts."""
        with aws.calling("dynamodb"):
            self.client.delete_item(TableName=self.table, Key=app_key(app_id, record_sort_key(uri)))


@lru_cache(maxsize=1)
def jwks_uri_passes() -> JwksUriPasses:
    """The container's JwksUriPasses (one client per container; `container.reset()` clears it)."""
    return JwksUriPasses(get_config().control_table, aws.client("dynamodb"))


container.on_reset(jwks_uri_passes.cache_clear)
