"""Raw events, diagnostics and coverage for application admins (the answers of the reporting function)."""

from __future__ import annotations

import json
from typing import Any

from countersign import clock, coverage
from countersign.config import get_config
from countersign.errors import DIAGNOSTIC_REASONS, ApiError
from countersign.key_usage import last_used_at
from countersign.keys import in_display_order
from countersign.numerals import decimal_at_most
from countersign.store.counters import counter_store, summed
from countersign.store.data import ListingPosition, data_store
from countersign.store.keys import key_store

DEFAULT_RAW_EVENTS = 25
MAX_RAW_EVENTS = 100
RECENT_DROPS = 50
MAX_VISITOR_ID_CHARS = 256
#: The events of one raw-events answer, in bytes as Lambda's runtime writes them: under Lambda's
#: 6 MB response limit with room for the rest of the answer (headers, count, cursor).
RAW_EVENTS_MAX_BYTES = 5 * 1024 * 1024
MAX_CURSOR_CHARS = 96


def raw_events(app_id: str, *, visitor_id: str | None, limit: str | None, cursor: str | None = None) -> dict[str, Any]:
    """Newest accepted events first, optionally of one visitor, each with how it was verified.

    At most `limit` events and RAW_EVENTS_MAX_BYTES of them as Lambda's runtime writes the answer
    (one event can grow sevenfold there: see `wire_bytes`), so the answer always fits Lambda's
    6 MB response limit. When more events are left, `nextCursor` lists on from the first one not
    shown (`cursor=`).
    """
    count = DEFAULT_RAW_EVENTS if limit is None else decimal_at_most(limit, MAX_RAW_EVENTS)
    if count is None or not 1 <= count <= MAX_RAW_EVENTS:
        raise ApiError("invalid_request", f"limit must be an integer from 1 to {MAX_RAW_EVENTS}.")
    if visitor_id is not None and not 0 < len(visitor_id) <= MAX_VISITOR_ID_CHARS:
        raise ApiError("invalid_request", "visitorId must be 1 to 256 characters.")
    start = None
    if cursor is not None:
        start = ListingPosition.from_cursor(cursor) if len(cursor) <= MAX_CURSOR_CHARS else None
        if start is None:
            raise ApiError("invalid_request", "cursor must be the nextCursor of an earlier raw-events answer.")
    events: list[dict[str, Any]] = []
    size = 0
    # One event more than asked for (when there is one) says whether a next page exists.
    for position, event in data_store().newest_events(app_id, visitor_id=visitor_id, page=count + 1, start=start):
        event_size = wire_bytes(event) + 1  # and its comma
        if len(events) == count or size + event_size > RAW_EVENTS_MAX_BYTES:
            return {"events": events, "count": len(events), "nextCursor": position.to_cursor()}
        events.append(event)
        size += event_size
    return {"events": events, "count": len(events)}


def wire_bytes(value: Any) -> int:
    """The bytes `value` takes in a Lambda proxy answer: the resolver writes the body as JSON with
    non-ASCII escaped (an emoji, 4 bytes of UTF-8, becomes 12), and the runtime writes the answer
    as JSON again, escaping each quote and backslash of the body once more."""
    return len(json.dumps(json.dumps(value, separators=(",", ":")))) - 2


def diagnostics(app_id: str) -> dict[str, Any]:
    """Counts of accepted, duplicate, rejected and dropped events by reason over the hours the
    counters keep (the longest coverage window, named in `window`); the latest drops, kept for the
    dedupe window; and what every drop and rejection code means and how to fix it."""
    span = coverage.window(coverage.MAX_HOURS, clock.now())
    totals = counter_store().totals(app_id, span.start, span.end)
    return {
        "window": {"hours": span.hours, "from": clock.iso(span.start), "to": clock.iso(span.end)},
        "counts": {
            "accepted": totals.get("accepted", 0),
            "duplicates": totals.get("duplicates", 0),
            "rejected": _by_prefix(totals, "rejected_"),
            "dropped": _by_prefix(totals, "dropped_"),
        },
        "recentDrops": data_store().recent_drops(app_id, RECENT_DROPS),
        "recentDropsHours": get_config().dedupe_window_seconds // 3600,
        "reasons": DIAGNOSTIC_REASONS,
    }


def coverage_report(app_id: str, *, hours: str | None) -> dict[str, Any]:
    """GET /coverage (SPEC 3.5): accepted sessions and events of the last `hours` by how they were
    verified, per key and per kid, with each one's last use, and what enforcing would drop."""
    span = coverage.window(coverage.parse_hours(hours), clock.now())
    by_hour = counter_store().hourly(app_id, span.start, span.end)
    counts = coverage.tally(summed(by_hour.values()))
    used_keys = counter_store().last_used(app_id, "key")
    used_kids = counter_store().last_used(app_id, "kid")
    keys = [
        (key.key_name, key.status == "active", last_used_at(used_keys.get(key.key_name), not_before_ms=key.created_ms))
        for key in in_display_order(key_store().list_keys(app_id))
    ]
    kids = {kid: str(last_used_at(minute)) for kid, minute in used_kids.items()}
    return {
        **coverage.coverage_json(counts, span, keys=keys, kid_last_used=kids),
        "hourly": coverage.hourly_json(by_hour, span),
    }


def _by_prefix(totals: dict[str, int], prefix: str) -> dict[str, int]:
    return {name.removeprefix(prefix): value for name, value in sorted(totals.items()) if name.startswith(prefix)}
