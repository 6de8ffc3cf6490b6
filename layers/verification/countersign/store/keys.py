"""HS256 signing keys in ControlTable: ciphertext only, and the five-active-keys limit.

    APP#<appId>   KEY#<keyName>   description, status (active|revoked), createdAt, revokedAt,
                                  createdMs, revokedMs (ordering), ciphertext (B, active keys only)
    APP#<appId>   KEYSLOTS        activeKeys: how many keys of the application are active

The limit is enforced by the database, not by reading first: generating a key is one
TransactWriteItems that adds 1 to `activeKeys` only while it is below the limit and puts the new
key item, so concurrent requests can never make a sixth active key. Revoking is one transaction
that flips the key from active to revoked (dropping its ciphertext: a revoked secret is gone for
good) and gives its slot back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from aws_lambda_powertools import Logger

from countersign import aws, clock, container
from countersign.config import get_config
from countersign.errors import ApiError, DependencyUnavailable
from countersign.store._attributes import app_key, number, string

logger = Logger(child=True)

KEY_PREFIX = "KEY#"
SLOTS_SORT_KEY = "KEYSLOTS"

# Public fields only: listing and reading a key never fetch the ciphertext.
_PUBLIC_FIELDS = "sk, description, #status, createdAt, revokedAt, createdMs, revokedMs"
_STATUS = {"#status": "status"}

# Concurrent transactions on the same slot counter can be cancelled with TransactionConflict;
# trying again a few times, with a short growing pause, is what DynamoDB asks for.
_CONFLICT_ATTEMPTS = 6
_CONFLICT_PAUSE_SECONDS = 0.02


class KeyNameTaken(Exception):
    """A key with this name already exists in the application (a random-name collision)."""


@dataclass(frozen=True)
class StoredKey:
    """A signing key as stored, without its ciphertext."""

    key_name: str
    description: str
    status: Literal["active", "revoked"]
    created_at: str
    revoked_at: str | None
    created_ms: int
    revoked_ms: int | None


@dataclass(frozen=True)
class SealedKey:
    """A key with its ciphertext; `ciphertext` is None once the key is revoked."""

    key: StoredKey
    ciphertext: bytes | None


@dataclass(frozen=True)
class SigningKeys:
    """An application's keys as the ingest path needs them: active ciphertexts, revoked names."""

    active: dict[str, bytes] = field(default_factory=dict)
    revoked: frozenset[str] = frozenset()


class KeyStore:
    """Signing keys and the per-application active-key counter in ControlTable."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def create_key(
        self, app_id: str, key_name: str, description: str, ciphertext: bytes, now: datetime, *, max_active: int
    ) -> StoredKey:
        """Store a new active key if the application has fewer than `max_active` active keys.

        Raises ApiError("key_limit_reached") at the limit and KeyNameTaken if the name exists.
        """
        key = StoredKey(key_name, description, "active", clock.iso(now), None, _ms(now), None)
        item = {
            **app_key(app_id, KEY_PREFIX + key_name),
            "description": string(description),
            "status": string("active"),
            "createdAt": string(key.created_at),
            "createdMs": number(key.created_ms),
            "ciphertext": {"B": ciphertext},
        }
        reasons = self._transact(
            [
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": app_key(app_id, SLOTS_SORT_KEY),
                        "UpdateExpression": "ADD activeKeys :one",
                        "ConditionExpression": "attribute_not_exists(activeKeys) OR activeKeys < :max",
                        "ExpressionAttributeValues": {":one": number(1), ":max": number(max_active)},
                    }
                },
                {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
            ]
        )
        if reasons is None:
            return key
        slots, put = _code(reasons, 0), _code(reasons, 1)
        if put == "ConditionalCheckFailed":
            raise KeyNameTaken(key_name)
        if slots == "ConditionalCheckFailed":
            raise ApiError("key_limit_reached")
        raise _unexpected_cancellation(reasons)

    def revoke_key(self, app_id: str, key_name: str, now: datetime) -> StoredKey:
        """Revoke an active key for good and free its slot.

        Raises ApiError("key_not_found") for an unknown name, ApiError("key_revoked") if it is
        already revoked (nothing changes then: the first revocation's time stays).
        """
        reasons = self._transact(
            [
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": app_key(app_id, KEY_PREFIX + key_name),
                        "UpdateExpression": "SET #status = :revoked, revokedAt = :at, revokedMs = :ms "
                        "REMOVE ciphertext",
                        "ConditionExpression": "attribute_exists(pk) AND #status = :active",
                        "ExpressionAttributeNames": _STATUS,
                        "ExpressionAttributeValues": {
                            ":active": string("active"),
                            ":revoked": string("revoked"),
                            ":at": string(clock.iso(now)),
                            ":ms": number(_ms(now)),
                        },
                        # Tells "unknown" from "already revoked" without a read before the write.
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": app_key(app_id, SLOTS_SORT_KEY),
                        "UpdateExpression": "ADD activeKeys :minus_one",
                        "ExpressionAttributeValues": {":minus_one": number(-1)},
                    }
                },
            ]
        )
        if reasons is not None:
            if _code(reasons, 0) != "ConditionalCheckFailed":
                raise _unexpected_cancellation(reasons)
            raise ApiError("key_revoked" if reasons[0].get("Item") else "key_not_found")
        revoked = self.get_key(app_id, key_name)
        if revoked is None:  # written a moment ago in a transaction that succeeded
            raise ApiError("key_not_found")
        return revoked

    def get_key(self, app_id: str, key_name: str) -> StoredKey | None:
        """The key without its ciphertext, or None."""
        with aws.calling("dynamodb"):
            item = self.client.get_item(
                TableName=self.table,
                Key=app_key(app_id, KEY_PREFIX + key_name),
                ProjectionExpression=_PUBLIC_FIELDS,
                ExpressionAttributeNames=_STATUS,
                ConsistentRead=True,
            ).get("Item")
        return _key_from_item(item) if item else None

    def ciphertext(self, app_id: str, key_name: str) -> SealedKey | None:
        """The key with its ciphertext (what reveal decrypts), or None for an unknown name."""
        with aws.calling("dynamodb"):
            item = self.client.get_item(
                TableName=self.table, Key=app_key(app_id, KEY_PREFIX + key_name), ConsistentRead=True
            ).get("Item")
        if not item:
            return None
        sealed = item.get("ciphertext", {}).get("B")
        return SealedKey(_key_from_item(item), bytes(sealed) if sealed is not None else None)

    def list_keys(self, app_id: str) -> list[StoredKey]:
        """Every key of the application, active and revoked, without ciphertexts (in name order)."""
        return [
            _key_from_item(item)
            for item in self._query_keys(app_id, ProjectionExpression=_PUBLIC_FIELDS, ExpressionAttributeNames=_STATUS)
        ]

    def signing_keys(self, app_id: str) -> SigningKeys:
        """Active keys' ciphertexts by name and the revoked names, with one (paginated) Query."""
        active: dict[str, bytes] = {}
        revoked: set[str] = set()
        for item in self._query_keys(
            app_id, ProjectionExpression="sk, #status, ciphertext", ExpressionAttributeNames=_STATUS
        ):
            name = item["sk"]["S"].removeprefix(KEY_PREFIX)
            if item["status"]["S"] == "active" and "ciphertext" in item:
                active[name] = bytes(item["ciphertext"]["B"])
            else:
                revoked.add(name)
        return SigningKeys(active, frozenset(revoked))

    def active_keys(self, app_id: str) -> dict[str, bytes]:
        """keyName -> ciphertext of the application's active keys (one Query)."""
        return self.signing_keys(app_id).active

    def active_key_count(self, app_id: str) -> int:
        """The slot counter the limit is enforced on (0 before the first key)."""
        with aws.calling("dynamodb"):
            item = self.client.get_item(
                TableName=self.table, Key=app_key(app_id, SLOTS_SORT_KEY), ConsistentRead=True
            ).get("Item")
        return int(item["activeKeys"]["N"]) if item and "activeKeys" in item else 0

    # helpers -----------------------------------------------------------------------------------

    def _query_keys(self, app_id: str, **projection: Any) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": string(f"APP#{app_id}"), ":prefix": string(KEY_PREFIX)},
            "ConsistentRead": True,
            **projection,
        }
        while True:
            with aws.calling("dynamodb"):
                page = self.client.query(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _transact(self, items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Run the transaction; None if it committed, else the cancellation reasons (one per item).

        A cancellation only because another transaction held an item is tried again; if that
        keeps happening the request answers 503 and the client retries.
        """
        from botocore.exceptions import ClientError

        for attempt in range(_CONFLICT_ATTEMPTS):
            try:
                with aws.calling("dynamodb"):
                    self.client.transact_write_items(TransactItems=items)
                return None
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                cancellation: Any = error.response.get("CancellationReasons") or []
                reasons: list[dict[str, Any]] = list(cancellation)
            codes = {reason.get("Code") for reason in reasons}
            if "ConditionalCheckFailed" in codes or "TransactionConflict" not in codes:
                return reasons
            time.sleep(_CONFLICT_PAUSE_SECONDS * (attempt + 1))
        raise DependencyUnavailable("dynamodb")


def _code(reasons: list[dict[str, Any]], index: int) -> str | None:
    """The cancellation code of the transaction's `index`-th item ("None" if it was fine)."""
    return reasons[index].get("Code") if index < len(reasons) else None


def _unexpected_cancellation(reasons: list[dict[str, Any]]) -> DependencyUnavailable:
    """A cancellation that is no rule of ours (throttling, a validation problem): a 503."""
    logger.warning(
        "transaction cancelled",
        extra={"dependency": "dynamodb", "reasons": [reason.get("Code") for reason in reasons]},
    )
    return DependencyUnavailable("dynamodb")


def _key_from_item(item: dict[str, Any]) -> StoredKey:
    status = item["status"]["S"]
    return StoredKey(
        key_name=item["sk"]["S"].removeprefix(KEY_PREFIX),
        description=item["description"]["S"],
        status="revoked" if status == "revoked" else "active",
        created_at=item["createdAt"]["S"],
        revoked_at=item["revokedAt"]["S"] if "revokedAt" in item else None,
        created_ms=int(item["createdMs"]["N"]),
        revoked_ms=int(item["revokedMs"]["N"]) if "revokedMs" in item else None,
    )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@lru_cache(maxsize=1)
def key_store() -> KeyStore:
    """The container's KeyStore (one client per container; tests clear this cache)."""
    return KeyStore(get_config().control_table, aws.client("dynamodb"))


container.on_reset(key_store.cache_clear)
