"""Events batches on plain values: limits, rejection by index, the window, dedupe keys."""

from __future__ import annotations

from typing import Any

import pytest

from countersign.errors import ApiError
from countersign.events import MAX_CONTEXT_BYTES, MAX_EVENT_BYTES, MAX_EVENTS, canonical_json, check_batch, dedupe_key
from countersign.sdk_requests import EventsRequest
from countersign.strict_json import BODY_DECODER

NOW_MS = 1_795_219_200_000
WEEK = 7 * 24 * 3600


def batch(events: list[Any], **extra: Any) -> Any:
    return check_batch(
        EventsRequest.from_body({"sessionId": "s_x", "events": events, **extra}),
        visitor_id="v",
        account_id="a",
        now_ms=NOW_MS,
        window_seconds=WEEK,
    )


def event(**fields: Any) -> dict[str, Any]:
    return {"type": "click", "timestamp": NOW_MS, **fields}


def test_valid_events_get_keys_and_invalid_ones_are_rejected_by_index() -> None:
    checked = batch(
        [
            event(),
            {"type": "", "timestamp": NOW_MS},
            event(timestamp="yesterday"),
            event(timestamp=True),
            event(timestamp=1.5),
            "not an object",
            event(insertId=""),
            event(properties=[1]),
            event(name=3),
            event(color="red"),
            event(timestamp=NOW_MS - (WEEK + 1) * 1000),
            event(timestamp=NOW_MS + 3601 * 1000),
            event(timestamp=NOW_MS + 3599 * 1000, insertId="ok"),
        ]
    )
    assert [e.index for e in checked.events] == [0, 12]
    assert [(r.index, r.code) for r in checked.rejected] == [
        (1, "invalid_event"),
        (2, "invalid_event"),
        (3, "invalid_event"),
        (4, "invalid_event"),
        (5, "invalid_event"),
        (6, "invalid_event"),
        (7, "invalid_event"),
        (8, "invalid_event"),
        (9, "invalid_event"),
        (10, "event_too_old"),
        (11, "event_in_future"),
    ]
    assert all(r.message for r in checked.rejected)


@pytest.mark.parametrize(
    ("events", "code"),
    [
        (None, "invalid_request"),
        ([], "invalid_request"),
        ({"type": "x"}, "invalid_request"),
        ([event()] * (MAX_EVENTS + 1), "too_many_events"),
        ([event(properties={"blob": "x" * MAX_EVENT_BYTES})], "event_too_large"),
    ],
)
def test_batch_level_limits(events: Any, code: str) -> None:
    with pytest.raises(ApiError) as raised:
        batch(events)
    assert raised.value.code == code
    if code in {"too_many_events", "event_too_large"}:
        assert raised.value.status == 413


def test_dedupe_key_uses_insert_id_alone_when_present() -> None:
    assert dedupe_key(event(insertId="abc"), "v1", "a1") == dedupe_key(event(insertId="abc", name="x"), "v2", "a2")
    assert dedupe_key(event(insertId="abc"), "v", "a") != dedupe_key(event(insertId="abd"), "v", "a")


def test_content_key_covers_content_visitor_and_account_not_key_order() -> None:
    base = dedupe_key(event(properties={"a": 1, "b": 2}), "v", "a")
    assert base == dedupe_key({"properties": {"b": 2, "a": 1}, "timestamp": NOW_MS, "type": "click"}, "v", "a")
    assert base != dedupe_key(event(properties={"a": 1, "b": 3}), "v", "a")
    assert base != dedupe_key(event(properties={"a": 1, "b": 2}), "other-visitor", "a")
    assert base != dedupe_key(event(properties={"a": 1, "b": 2}), "v", "other-account")


def test_content_key_is_one_per_json_value_however_a_number_is_written() -> None:
    """JSON gives 1, 1.0, 1e0 and 10E-1 one value (as it gives {"a":1,"b":2} and {"b":2,"a":1})."""

    def key(text: str) -> str:
        return dedupe_key(BODY_DECODER.decode(text), "v", "a")

    def spelled(number: str) -> str:
        return f'{{"type": "click", "timestamp": {NOW_MS}, "properties": {{"n": {number}, "list": [{number}]}}}}'

    assert len({key(spelled(n)) for n in ("1", "1.0", "1e0", "1E+0", "10E-1", "1.000")}) == 1
    assert len({key(spelled(n)) for n in ("0", "-0", "0.0", "-0.0", "0e5")}) == 1
    assert key(spelled("1")) != key(spelled("1.5")) != key(spelled('"1"'))
    assert key(spelled("1")) != key(spelled("true"))
    assert key(f'{{"type": "click", "timestamp": {NOW_MS}.0}}') == key(f'{{"type": "click", "timestamp": {NOW_MS}}}')


def test_batch_id_is_stable_for_a_retry_and_differs_otherwise() -> None:
    first = batch([event(), event(name="x")])
    assert first.batch_id == batch([event(), event(name="x")]).batch_id
    assert first.batch_id != batch([event(name="x"), event()]).batch_id


def test_context_of_at_most_8_kib_is_kept_as_sent_and_a_bad_one_rejects_that_event_alone() -> None:
    """SPEC 3.3: `context` is an object of at most 8 KiB of UTF-8 JSON; otherwise that event alone."""
    page = {"url": "https://shop.example/pricing", "title": "Pricing"}
    fits = {"pad": "€" * ((MAX_CONTEXT_BYTES - len('{"pad":""}')) // 3)}  # 3 bytes each: at the limit
    assert len(canonical_json(fits).encode()) <= MAX_CONTEXT_BYTES < len(canonical_json({**fits, "x": 1}).encode())
    checked = batch(
        [
            event(context={"page": page}),
            event(context=["not", "an", "object"]),
            event(context="text"),
            event(context={**fits, "x": 1}),
            event(context=fits),
            event(context={}),
        ]
    )
    assert [e.index for e in checked.events] == [0, 4, 5]
    assert checked.events[0].payload["context"] == {"page": page}
    assert [(r.index, r.code) for r in checked.rejected] == [
        (1, "invalid_context"),
        (2, "invalid_context"),
        (3, "invalid_context"),
    ]
    assert "8192" in checked.rejected[2].message


def test_context_is_not_part_of_the_content_dedupe() -> None:
    key = dedupe_key(event(name="buy"), "v", "a")
    assert dedupe_key(event(name="buy", context={"page": {"url": "https://a.example/"}}), "v", "a") == key
    assert dedupe_key(event(name="buy", context={"page": {"url": "https://b.example/"}}), "v", "a") == key
    assert dedupe_key(event(name="sell", context={"page": {"url": "https://a.example/"}}), "v", "a") != key
