"""Events batches (SPEC 3.3): limits, validation by index, the time window and dedupe keys. Pure.

Limits: at most MAX_EVENTS events and the request body at most 1 MiB (api.INGEST_BODY_LIMIT);
each event at most MAX_EVENT_BYTES as compact JSON. Over a limit the whole request is 413. Each
event nests at most MAX_EVENT_DEPTH levels, or is rejected alone (the body's own depth guard,
strict_json.SDK_BODY_DEPTH_GUARD, is far above it and only stops pathological bodies).

An event that fails validation or the time window is rejected alone, by its index; the others
are still accepted. The window: older than the dedupe window (default 7 days) or more than
FUTURE_SKEW_SECONDS ahead is refused, so a replay can never outlive its dedupe record.

`context` (where the event happened: page, library, user agent) is an optional JSON object of at
most MAX_CONTEXT_BYTES as UTF-8 compact JSON; a larger or non-object one rejects that event alone.
It is stored and exported as sent, and is not part of the content dedupe: the same event seen from
two pages' contexts is still one event.

Dedupe key: `insertId` when present, within its scope (`insert_id_scope`: a verified visitor's
own, or the application's unsigned events), else a hash of the event's canonical content (less `context`) together with
the session's visitor and account ids. Canonical means one spelling per JSON value: keys sorted,
no white space, and a number written as an integer when it is one (1, 1.0, 1e0 and 10E-1 are one
value in JSON, so one event). The key is the event's DynamoDB key, so the stored event
is its own dedupe record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from countersign.errors import EVENT_REJECTIONS, ApiError, EventRejection
from countersign.sdk_requests import EventsRequest
from countersign.strict_json import json_depth_exceeds

MAX_EVENTS = 500
MAX_EVENT_BYTES = 32 * 1024
FUTURE_SKEW_SECONDS = 3600
MAX_TYPE_CHARS = 256
MAX_INSERT_ID_CHARS = 256
MAX_CONTEXT_BYTES = 8 * 1024
_FIELDS = frozenset({"type", "timestamp", "insertId", "name", "properties", "context"})
#: How deep one event may nest (the event object is level 1); a deeper event is rejected alone.
MAX_EVENT_DEPTH = 16


@dataclass(frozen=True)
class Rejection:
    index: int
    code: EventRejection
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class CheckedEvent:
    """A valid event of the batch, with the key that makes it unique for its application."""

    index: int
    dedupe_key: str
    payload: dict[str, Any]  # exactly the documented fields the SDK sent

    @property
    def timestamp_ms(self) -> int:
        return int(self.payload["timestamp"])


@dataclass(frozen=True)
class CheckedBatch:
    events: list[CheckedEvent]
    rejected: list[Rejection]
    batch_id: str


def check_batch(
    request: EventsRequest,
    *,
    visitor_id: str,
    account_id: str,
    now_ms: int,
    window_seconds: int,
    insert_id_scope: InsertIdScope | None = None,
) -> CheckedBatch:
    """Split a batch into valid events (with dedupe keys) and rejections by index."""
    events = request.events
    if events is None:
        raise ApiError("invalid_request", "events must be a list of event objects.")
    if not events:
        raise ApiError("invalid_request", "events must hold at least one event.")
    if len(events) > MAX_EVENTS:
        raise ApiError("too_many_events", f"A batch holds at most {MAX_EVENTS} events; this one holds {len(events)}.")

    checked: list[CheckedEvent] = []
    rejected: list[Rejection] = []
    for index, event in enumerate(events):
        size = len(canonical_json(event).encode("utf-8", "surrogatepass"))
        if size > MAX_EVENT_BYTES:
            raise ApiError("event_too_large", f"Event {index} is {size} bytes; an event is at most {MAX_EVENT_BYTES}.")
        problem = _problem(event, now_ms=now_ms, window_seconds=window_seconds)
        if problem is not None:
            code, detail = problem
            rejected.append(Rejection(index, code, detail or EVENT_REJECTIONS[code].message))
            continue
        checked.append(CheckedEvent(index, dedupe_key(event, visitor_id, account_id, insert_id_scope), event))
    return CheckedBatch(checked, rejected, batch_id(request.session_id, events))


@dataclass(frozen=True)
class InsertIdScope:
    """Whose events an insertId is compared with (SPEC 3.3): `name` is "" (the whole application's
    unsigned events, as every insertId was before scoping), "signed" (signed sessions without a
    visitor id) or "visitor:<id>" (one verified visitor). Events timestamped before `since_ms`
    keep the application-wide key they may have been stored under by an older release."""

    name: str
    since_ms: int = 0

    def key_text(self, insert_id: str, timestamp_ms: Any) -> str:
        before = isinstance(timestamp_ms, int) and timestamp_ms < self.since_ms
        return insert_id if not self.name or before else f"{self.name}\x00{insert_id}"


def insert_id_scope(*, signed: bool, anonymous: bool, visitor_id: str, since_ms: int = 0) -> InsertIdScope:
    """The scope of a session's insertIds. A verified visitor's own: a client that cannot sign as
    that visitor (unsigned, or signing as another) can never pre-empt its insertIds, while the
    same visitor's retry, from a new session too, meets them. Unsigned sessions share one scope
    (their visitor ids are claims anyone can make, and an anonymous id is new each session), and
    so do signed sessions without a visitor id."""
    if not signed:
        return InsertIdScope("", since_ms)
    return InsertIdScope("signed" if anonymous else f"visitor:{visitor_id}", since_ms)


def dedupe_key(
    event: dict[str, Any], visitor_id: str, account_id: str, insert_id_scope: InsertIdScope | None = None
) -> str:
    """`i<hash of scoped insertId>` or `c<hash of content, visitor and account>`: the event's identity."""
    insert_id = event.get("insertId")
    if insert_id is not None:
        scope = insert_id_scope or InsertIdScope("")
        return "i" + _digest(scope.key_text(insert_id, event.get("timestamp")))
    content_fields = {name: value for name, value in event.items() if name != "context"}
    content = {"event": _whole_numbers_as_integers(content_fields), "visitorId": visitor_id, "accountId": account_id}
    return "c" + _digest(canonical_json(content))


def batch_id(session_id: str, events: list[Any]) -> str:
    """Identifies one delivery's content: the SDK's retry of the same request has the same id."""
    return _digest(canonical_json({"sessionId": session_id, "events": events}))[:32]


def canonical_json(value: Any) -> str:
    """One spelling per JSON value (sorted keys, no spaces), so equal content hashes equally."""
    return _CANONICAL.encode(value)


# Made once: json.dumps with options builds a new encoder on every call (three per event here).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _whole_numbers_as_integers(value: Any) -> Any:
    """`value` with every float that is a whole number (1.0, 1e0, -0.0) as that integer."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value  # finite: the body parser refuses NaN/Infinity
    if isinstance(value, dict):
        return {name: _whole_numbers_as_integers(member) for name, member in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_integers(item) for item in value]
    return value


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _problem(event: Any, *, now_ms: int, window_seconds: int) -> tuple[EventRejection, str | None] | None:
    if not isinstance(event, dict):
        return "invalid_event", "An event must be a JSON object."
    unknown = sorted(set(event) - _FIELDS)
    if unknown:
        return "invalid_event", f"Unknown event field(s): {', '.join(unknown)[:200]}."
    kind = event.get("type")
    if not isinstance(kind, str) or not kind.strip() or len(kind) > MAX_TYPE_CHARS:
        return "invalid_event", f"type must be a non-empty string of at most {MAX_TYPE_CHARS} characters."
    timestamp = event.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        return "invalid_event", "timestamp must be an integer number of epoch milliseconds."
    insert_id = event.get("insertId")
    if insert_id is not None and (not isinstance(insert_id, str) or not insert_id or len(insert_id) > 256):
        return "invalid_event", f"insertId must be a non-empty string of at most {MAX_INSERT_ID_CHARS} characters."
    if "name" in event and not isinstance(event["name"], str):
        return "invalid_event", "name must be a string."
    if "properties" in event and not isinstance(event["properties"], dict):
        return "invalid_event", "properties must be a JSON object."
    if "context" in event:
        if not isinstance(event["context"], dict):
            return "invalid_context", "context must be a JSON object."
        size = len(canonical_json(event["context"]).encode("utf-8", "surrogatepass"))
        if size > MAX_CONTEXT_BYTES:
            return "invalid_context", f"context is {size} bytes of JSON; it is at most {MAX_CONTEXT_BYTES}."
    if json_depth_exceeds(event, MAX_EVENT_DEPTH):
        return "invalid_event", f"An event nests deeper than {MAX_EVENT_DEPTH} levels."
    if timestamp < now_ms - window_seconds * 1000:
        return "event_too_old", None
    if timestamp > now_ms + FUTURE_SKEW_SECONDS * 1000:
        return "event_in_future", None
    return None
