"""The lake's object names and lines, and the event source mapping's filter patterns (SPEC 6). Pure."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from countersign.lake import (
    KINDS,
    LakeLine,
    ObjectName,
    Partition,
    decode_object,
    encode_object,
    object_name,
    parse_object_key,
    start_after_key,
)
from countersign_dev.emulation.stream_poller import matches


def _line(sequence: int, identity: str = "", dt: str = "2026-11-26") -> LakeLine:
    return LakeLine(
        "events", "app_x", dt, sequence, identity or f"e{sequence}", {"eventId": identity or f"e{sequence}"}
    )


def test_object_names_sort_by_stream_position_and_parse_back() -> None:
    partition = Partition("events", "app_x", "2026-11-26")
    name = object_name(partition, [_line(42), _line(7), _line(19)])
    assert (name.first, name.last) == (7, 42)
    assert name.key.startswith("events/app=app_x/dt=2026-11-26/") and name.key.endswith(".jsonl.gz")
    assert parse_object_key(name.key) == name
    assert object_name(partition, [_line(7), _line(42)]).key != name.key  # other lines, other name
    assert object_name(partition, [_line(19), _line(42), _line(7)]) == name  # same lines, same name
    # Anyone who can write to the bucket can name an object: junk is ignored, never a crash.
    junk = ("events/app=a/dt=d/\u00b2-1-ab.jsonl.gz", f"events/app=a/dt=d/{'9' * 5000}-1-ab.jsonl.gz")
    for bad in (
        "events/app=a/dt=d/x.jsonl.gz",
        "other/app=a/dt=d/1-2-ab.jsonl.gz",
        "events/app=a/1-2-ab.jsonl.gz",
        *junk,
    ):
        assert parse_object_key(bad) is None
    # Sorted keys follow the last line's position; the listing start skips exactly the objects ending before.
    keys = sorted(ObjectName(partition, first, last, "d").key for first, last in ((1, 9), (10, 10), (3, 12), (11, 99)))
    assert [parse_object_key(key).last for key in keys] == [9, 10, 12, 99]  # type: ignore[union-attr]
    after = [key for key in keys if key > start_after_key(partition, 10)]
    assert [parse_object_key(key).last for key in after] == [10, 12, 99]  # type: ignore[union-attr]


def test_objects_are_gzip_json_lines_in_stream_order_and_byte_for_byte_reproducible() -> None:
    lines = [_line(5, "b"), _line(2, "a"), _line(9, "c")]
    body = encode_object(lines)
    assert body == encode_object(list(reversed(lines)))
    assert gzip.decompress(body).decode().splitlines() == ['{"eventId":"a"}', '{"eventId":"b"}', '{"eventId":"c"}']
    assert decode_object(body) == [{"eventId": "a"}, {"eventId": "b"}, {"eventId": "c"}]
    assert KINDS == ("events", "sessions")


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ({"a": ["x"]}, {"a": "x"}, True),
        ({"a": ["x", "y"]}, {"a": "y"}, True),
        ({"a": ["x"]}, {"a": "z"}, False),
        ({"a": ["x"]}, {}, False),
        ({"a": [1]}, {"a": "1"}, False),
        ({"a": {"b": {"c": ["v"]}}}, {"a": {"b": {"c": "v"}}}, True),
        ({"a": {"b": ["v"]}}, {"a": "v"}, False),
        ({"a": [{"prefix": "EV"}]}, {"a": "EVENT#1"}, True),
        ({"a": [{"suffix": "#1"}]}, {"a": "EVENT#2"}, False),
        ({"a": [{"anything-but": ["REMOVE"]}]}, {"a": "INSERT"}, True),
        ({"a": [{"anything-but": "REMOVE"}]}, {"a": "REMOVE"}, False),
        ({"a": [{"exists": False}]}, {}, True),
        ({"a": [{"exists": True}]}, {}, False),
        ({"a": [{"numeric": [">", 1, "<=", 5]}]}, {"a": 5}, True),
        ({"a": [{"numeric": [">", 1]}]}, {"a": "5"}, False),
        ({"a": [{"equals-ignore-case": "insert"}]}, {"a": "INSERT"}, True),
        ({"a": ["x"]}, {"a": ["y", "x"]}, True),
        ({"a": ["x"], "b": ["y"]}, {"a": "x", "b": "z"}, False),
    ],
)
def test_filter_patterns_match_as_lambda_filters_do(pattern: dict[str, Any], event: Any, expected: bool) -> None:
    assert matches(pattern, event) is expected
