"""A key's lastUsedAt is never before its createdAt (issue 26, item 6): lastUsedAt has minute
precision (SPEC 3.5), and a key used in the minute it was created was shown as used seconds
before it existed. The keys listing, the revoke answer and coverage all answer it so."""

from __future__ import annotations

from datetime import UTC, datetime

from countersign import key_usage, keys, reporting
from tests.support.tenant import Tenant
from tests.support.world import World

CREATED = datetime(2026, 12, 6, 14, 5, 30, 250_000, tzinfo=UTC)
USED = datetime(2026, 12, 6, 14, 5, 41, tzinfo=UTC)  # the same minute, 11 s later


def _as(world: World, function: str) -> None:
    """Run the layer's rules with `function`'s environment, as its handler would."""
    world.handler(function)


def test_a_use_in_the_minute_the_key_was_created_is_not_shown_before_it(world: World) -> None:
    tenant = Tenant(world)
    _as(world, "KeysFunction")
    created = keys.generate_key(tenant.app_id, {"description": "made at 14:05:30"}, now=CREATED)
    assert created["createdAt"] == "2026-12-06T14:05:30Z"
    _as(world, "IngestFunction")
    key_usage.note_use(tenant.app_id, key_name=created["keyName"], kid=None, at=USED)

    _as(world, "KeysFunction")
    (listed,) = keys.list_keys(tenant.app_id)["activeKeys"]
    assert listed["lastUsedAt"] is not None and listed["lastUsedAt"] >= listed["createdAt"], listed
    assert listed["lastUsedAt"] == "2026-12-06T14:05:30Z"  # within the minute of use, not before creation
    _as(world, "ReportingFunction")
    (row,) = reporting.coverage_report(tenant.app_id, hours=None)["keys"]
    assert row["lastUsedAt"] == listed["lastUsedAt"]
    _as(world, "KeysFunction")
    revoked = keys.revoke_key(tenant.app_id, created["keyName"])
    assert revoked["lastUsedAt"] == listed["lastUsedAt"]


def test_a_use_in_a_later_minute_keeps_minute_precision(world: World) -> None:
    tenant = Tenant(world)
    _as(world, "KeysFunction")
    created = keys.generate_key(tenant.app_id, {"description": "older"}, now=CREATED)
    _as(world, "IngestFunction")
    key_usage.note_use(tenant.app_id, key_name=created["keyName"], kid=None, at=USED.replace(minute=9))
    _as(world, "KeysFunction")
    (listed,) = keys.list_keys(tenant.app_id)["activeKeys"]
    assert listed["lastUsedAt"] == "2026-12-06T14:09:00Z"
