"""Applications, admin tokens and settings in ControlTable.

Both tables are `pk`/`sk` strings with a `ttl` attribute (see template.yaml). ControlTable is
small and read-mostly:

    APP#<appId>        META             application name, createdAt
    APP#<appId>        SETTINGS         the settings object, `version` for optimistic concurrency
    APP#<appId>        ADMIN#<hash>     which admin tokens the application has (for rotation)
    APP#<appId>        LIMITS           operator overrides of the per-application rate limits
    ADMIN#<hash>       ADMIN            admin token hash -> appId (tokens are stored only as hashes)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from countersign import aws, container
from countersign.config import get_config
from countersign.errors import ApiError
from countersign.settings import Settings
from countersign.store._attributes import app_key, number, string

#: The request families that have a per-application rate limit (SDK routes, admin routes).
LIMIT_FAMILIES = ("sdk", "admin")

#: Enough for every writer of a burst far larger than an admin team sends at once to win in turn.
SETTINGS_WRITE_ATTEMPTS = 20
_RETRY_PAUSE_SECONDS = 0.01


class SettingsChanged(Exception):
    """The settings were written by someone else since they were read."""


@dataclass(frozen=True)
class AppRecord:
    app_id: str
    name: str
    created_at: str


class ControlStore:
    """Applications, admin tokens and settings in ControlTable."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    # applications and admin tokens -------------------------------------------------------------

    def create_app(self, app_id: str, name: str, token_hash: str, now: str) -> None:
        """Create the application, its default settings and its first admin token, atomically."""
        settings = Settings(updated_at=now)
        with aws.calling("dynamodb"):
            self.client.transact_write_items(
                TransactItems=[
                    self._put_new({**app_key(app_id, "META"), "name": string(name), "createdAt": string(now)}),
                    self._put_new({**app_key(app_id, "SETTINGS"), **_settings_item(settings)}),
                    *self._admin_token_puts(app_id, token_hash, now),
                ]
            )

    def add_admin_token(self, app_id: str, token_hash: str, now: str, *, revoke_others: bool) -> int:
        """Give the application a new admin token; with `revoke_others`, its other tokens stop working.

        Returns how many tokens were revoked.
        """
        if self.get_app(app_id) is None:
            raise ApiError("app_not_found", f"No application {app_id} exists.")
        old = self._admin_token_hashes(app_id) if revoke_others else []
        deletes = []
        for old_hash in old:
            deletes.append(
                {"Delete": {"TableName": self.table, "Key": {"pk": string(f"ADMIN#{old_hash}"), "sk": string("ADMIN")}}}
            )
            deletes.append({"Delete": {"TableName": self.table, "Key": app_key(app_id, f"ADMIN#{old_hash}")}})
        with aws.calling("dynamodb"):
            self.client.transact_write_items(TransactItems=[*self._admin_token_puts(app_id, token_hash, now), *deletes])
        return len(old)

    def app_id_for_admin_token(self, token_hash: str) -> str | None:
        with aws.calling("dynamodb"):
            item = self.client.get_item(
                TableName=self.table,
                Key={"pk": string(f"ADMIN#{token_hash}"), "sk": string("ADMIN")},
                ProjectionExpression="appId",
            ).get("Item")
        return item["appId"]["S"] if item else None

    def app_ids(self) -> list[str]:
        """Every application's id (a Scan of the small ControlTable: operators' reconcile only)."""
        found: list[str] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "sk = :meta AND begins_with(pk, :app)",
            "ExpressionAttributeValues": {":meta": string("META"), ":app": string("APP#")},
            "ProjectionExpression": "pk",
        }
        while True:
            with aws.calling("dynamodb"):
                answer = self.client.scan(**request)
            found.extend(str(item["pk"]["S"]).split("#", 1)[1] for item in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return sorted(found)
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def get_app(self, app_id: str) -> AppRecord | None:
        with aws.calling("dynamodb"):
            item = self.client.get_item(TableName=self.table, Key=app_key(app_id, "META")).get("Item")
        if not item:
            return None
        return AppRecord(app_id=app_id, name=item["name"]["S"], created_at=item["createdAt"]["S"])

    # rate-limit overrides (operator CLI: `countersign apps limits`) ---------------------------

    def get_limits(self, app_id: str) -> dict[str, int]:
        """The operator's per-application overrides, by family (`sdk`, `admin`); empty when none."""
        with aws.calling("dynamodb"):
            item = self.client.get_item(TableName=self.table, Key=app_key(app_id, "LIMITS")).get("Item")
        return {name: int(value["N"]) for name, value in (item or {}).items() if name in LIMIT_FAMILIES}

    def set_limits(self, app_id: str, limits: dict[str, int | None]) -> dict[str, int]:
        """Set (a number) or clear (None) overrides; returns the overrides now stored."""
        if self.get_app(app_id) is None:
            raise ApiError("app_not_found", f"No application {app_id} exists.")
        current = {**self.get_limits(app_id), **limits}
        kept = {name: value for name, value in current.items() if value is not None}
        with aws.calling("dynamodb"):
            if kept:
                item = {name: number(value) for name, value in kept.items()}
                self.client.put_item(TableName=self.table, Item={**app_key(app_id, "LIMITS"), **item})
            else:
                self.client.delete_item(TableName=self.table, Key=app_key(app_id, "LIMITS"))
        return kept

    # settings ----------------------------------------------------------------------------------

    def get_settings(self, app_id: str) -> Settings:
        """The settings of an application known to exist (admin routes: authorization proved it)."""
        settings = self.find_settings(app_id)
        if settings is None:
            raise ApiError("app_not_found")
        return settings

    def find_settings(self, app_id: str, *, consistent: bool = True) -> Settings | None:
        """The settings, or None when no such application exists."""
        with aws.calling("dynamodb"):
            item = self.client.get_item(
                TableName=self.table, Key=app_key(app_id, "SETTINGS"), ConsistentRead=consistent
            ).get("Item")
        return _settings_from_item(item) if item else None

    def replace_settings(self, app_id: str, new: Settings, expected_version: int) -> None:
        """Write `new` only if the stored version is still `expected_version` (no lost updates)."""
        try:
            with aws.calling("dynamodb"):
                self.client.put_item(
                    TableName=self.table,
                    Item={**app_key(app_id, "SETTINGS"), **_settings_item(new)},
                    ConditionExpression="version = :expected",
                    ExpressionAttributeValues={":expected": number(expected_version)},
                )
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise SettingsChanged from error

    def update_settings(
        self, app_id: str, change: Callable[[Settings], Settings], *, attempts: int = SETTINGS_WRITE_ATTEMPTS
    ) -> Settings:
        """Read, change and conditionally write the settings, retrying when another writer won.

        `change` re-runs on the fresh settings each time, so every rule is judged against the
        state it is applied to, and no concurrent update is lost. Retries wait a short random
        time that grows with each loss, so writers that collided do not collide again in step
        (without it, ten simultaneous writers could starve the last one).
        """
        for attempt in range(attempts):
            if attempt:
                time.sleep(random.uniform(0, _RETRY_PAUSE_SECONDS * attempt))  # noqa: S311 - jitter, not a secret
            current = self.get_settings(app_id)
            new = change(current)
            try:
                self.replace_settings(app_id, new, current.version)
                return new
            except SettingsChanged:
                continue
        raise ApiError("settings_conflict")

    # helpers -----------------------------------------------------------------------------------

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

    def _admin_token_puts(self, app_id: str, token_hash: str, now: str) -> list[dict[str, Any]]:
        return [
            self._put_new(
                {
                    "pk": string(f"ADMIN#{token_hash}"),
                    "sk": string("ADMIN"),
                    "appId": string(app_id),
                    "createdAt": string(now),
                }
            ),
            self._put_new({**app_key(app_id, f"ADMIN#{token_hash}"), "createdAt": string(now)}),
        ]

    def _admin_token_hashes(self, app_id: str) -> list[str]:
        with aws.calling("dynamodb"):
            items = self.client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": string(f"APP#{app_id}"), ":prefix": string("ADMIN#")},
            )["Items"]
        return [item["sk"]["S"].removeprefix("ADMIN#") for item in items]


def _settings_item(settings: Settings) -> dict[str, Any]:
    item: dict[str, Any] = {
        "useSignedMetadata": {"BOOL": settings.use_signed_metadata},
        "useRs256SignedMetadata": {"BOOL": settings.use_rs256_signed_metadata},
        "onlyAllowSignedMetadata": {"BOOL": settings.only_allow_signed_metadata},
        "version": number(settings.version),
        "updatedAt": string(settings.updated_at),
    }
    if settings.jwks_uri:
        item["jwksUri"] = string(settings.jwks_uri)
    return item


def _settings_from_item(item: dict[str, Any]) -> Settings:
    return Settings(
        use_signed_metadata=item["useSignedMetadata"]["BOOL"],
        use_rs256_signed_metadata=item["useRs256SignedMetadata"]["BOOL"],
        jwks_uri=item["jwksUri"]["S"] if "jwksUri" in item else None,
        only_allow_signed_metadata=item["onlyAllowSignedMetadata"]["BOOL"],
        version=int(item["version"]["N"]),
        updated_at=item["updatedAt"]["S"],
    )


@lru_cache(maxsize=1)
def control_store() -> ControlStore:
    """The container's ControlStore (one client per container; tests clear this cache)."""
    return ControlStore(get_config().control_table, aws.client("dynamodb"))


container.on_reset(control_store.cache_clear)
