"""The tables' columns (SPEC 6.2) and how a landing line becomes a row. Pure: no library.

Columns are typed and snake_case. Timestamps are UTC instants (Iceberg `timestamptz`, microseconds);
JSON objects (`properties`, `context`, `visitor`, `account`) stay JSON text, so a new key in the
SDK never changes the schema. A row is a plain dict the fold hands to Arrow.

Partitioning: identity `app_id` and the day of `event_time` (`changed_at` for sessions), so a late
event lands in the day it happened and a query naming an application and a time range reads only
that application's files of those days.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from countersign.lake import Kind

ColumnType = Literal["string", "timestamptz", "boolean", "int"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool
    doc: str


EVENT_COLUMNS: tuple[Column, ...] = (
    Column("event_id", "string", True, "the event's dedupe key (eventId), stable across retries"),
    Column("app_id", "string", True, "the application"),
    Column("session_id", "string", True, "the session the event was sent on"),
    Column("visitor_id", "string", False, "the session's visitor"),
    Column("account_id", "string", False, "the session's account"),
    Column("type", "string", True, "the event type as sent (track, page, ...)"),
    Column("name", "string", False, "the event name, when sent"),
    Column("event_time", "timestamptz", True, "when the event happened: the SDK's `timestamp`"),
    Column("received_at", "timestamptz", True, "when the service accepted it"),
    Column("insert_id", "string", False, "the SDK's insertId, when sent"),
    Column("properties", "string", False, "the event's properties object as JSON text"),
    Column("context", "string", False, "the request context (SPEC 3.3) as JSON text"),
    Column("verification_mode", "string", True, "hs256, rs256 or unsigned"),
    Column("key_name", "string", False, "the HS256 key that signed the session's metadata"),
    Column("kid", "string", False, "the RS256 key id that signed the session's metadata"),
)
SESSION_COLUMNS: tuple[Column, ...] = (
    Column("session_id", "string", True, "the session"),
    Column("app_id", "string", True, "the application"),
    Column("visitor_id", "string", False, "the visitor"),
    Column("account_id", "string", False, "the account"),
    Column("anonymous", "boolean", True, "no visitor id was given"),
    Column("visitor", "string", False, "the visitor metadata object as JSON text"),
    Column("account", "string", False, "the account metadata object as JSON text"),
    Column("verification_mode", "string", True, "hs256, rs256 or unsigned"),
    Column("key_name", "string", False, "the HS256 key that signed the metadata"),
    Column("kid", "string", False, "the RS256 key id that signed the metadata"),
    Column("started_at", "timestamptz", True, "when the session started"),
    Column("expires_at", "timestamptz", True, "when the session ends"),
    Column("changed_at", "timestamptz", True, "when this version of the metadata was written"),
    Column("metadata_version", "int", True, "1 at the start, +1 for each metadata update"),
    Column("change", "string", True, "started or updated"),
)
COLUMNS: dict[Kind, tuple[Column, ...]] = {"events": EVENT_COLUMNS, "sessions": SESSION_COLUMNS}
#: The column whose day partitions each table (with `app_id`).
TIME_COLUMN: dict[Kind, str] = {"events": "event_time", "sessions": "changed_at"}
#: What makes a row unique: the same identity as the landing line's (countersign.lake.line_identity).
IDENTITY_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "events": ("event_id",),
    "sessions": ("session_id", "metadata_version"),
}


class BadLine(ValueError):
    """A landing line that cannot be a row (a field missing or of the wrong kind)."""


def row(kind: Kind, record: dict[str, Any]) -> dict[str, Any]:
    """The table row of one landing line (SPEC 6 record)."""
    try:
        return _event_row(record) if kind == "events" else _session_row(record)
    except (KeyError, TypeError, ValueError) as error:
        raise BadLine(f"{kind} line cannot be a row: {type(error).__name__}: {error}") from error


def _event_row(record: dict[str, Any]) -> dict[str, Any]:
    verification = record.get("verification") or {}
    return {
        "event_id": str(record["eventId"]),
        "app_id": str(record["appId"]),
        "session_id": str(record["sessionId"]),
        "visitor_id": record.get("visitorId"),
        "account_id": record.get("accountId"),
        "type": str(record["type"]),
        "name": record.get("name"),
        "event_time": _from_epoch_ms(record["timestamp"]),
        "received_at": _from_iso(record["receivedAt"]),
        "insert_id": record.get("insertId"),
        "properties": _json_text(record.get("properties")),
        "context": _json_text(record.get("context")),
        "verification_mode": str(verification["mode"]),
        "key_name": verification.get("keyName"),
        "kid": verification.get("kid"),
    }


def _session_row(record: dict[str, Any]) -> dict[str, Any]:
    verification = record.get("verification") or {}
    started = _from_iso(record["startedAt"])
    # Lines written before `changedAt` was added: a start changed at its start; an update is
    # placed at its start too (the nearest instant the line itself proves).
    changed = _from_iso(record["changedAt"]) if record.get("changedAt") else started
    return {
        "session_id": str(record["sessionId"]),
        "app_id": str(record["appId"]),
        "visitor_id": record.get("visitorId"),
        "account_id": record.get("accountId"),
        "anonymous": bool(record["anonymous"]),
        "visitor": _json_text(record.get("visitor")),
        "account": _json_text(record.get("account")),
        "verification_mode": str(verification["mode"]),
        "key_name": verification.get("keyName"),
        "kid": verification.get("kid"),
        "started_at": started,
        "expires_at": _from_iso(record["expiresAt"]),
        "changed_at": changed,
        "metadata_version": int(record["metadataVersion"]),
        "change": str(record["change"]),
    }


def _from_epoch_ms(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"timestamp is {type(value).__name__}, not epoch milliseconds")
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def _from_iso(text: Any) -> datetime:
    if not isinstance(text, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(text).__name__}")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _json_text(value: Any) -> str | None:
    """An object as compact JSON text (key order as sent); null stays null."""
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
