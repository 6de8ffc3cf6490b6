"""JSON Lines end at "\\n" only (issue 21, defects 3 and 4): a record holding any other Unicode
line-break character is one line when written, and reads back whole, also from objects written
before the writer escaped them."""

from __future__ import annotations

import gzip
import json

import pytest

from countersign.lake import LINE_BREAKS, LakeLine, decode_object, encode_object

#: Every character Python's str.splitlines() ends a line at (U+000A..U+000D, U+001C..U+001E,
#: U+0085, U+2028, U+2029); written out here, not derived from the module under test.
EVERY_LINE_BREAK = ["\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def _record(index: int, brk: str) -> dict[str, object]:
    return {
        "eventId": f"e{index}",
        "type": f"type{brk}end",
        "name": brk,
        "properties": {f"key{brk}": [f"a{brk}b", {"deep": brk * 3}]},
    }


def _line(index: int, record: dict[str, object]) -> LakeLine:
    return LakeLine("events", "app_x", "2026-12-06", index, str(record["eventId"]), record)


def test_the_list_of_line_breaks_is_every_character_python_splits_lines_at() -> None:
    assert sorted(LINE_BREAKS) == sorted(EVERY_LINE_BREAK)
    assert all(f"a{brk}b".splitlines() == ["a", "b"] for brk in EVERY_LINE_BREAK)


@pytest.mark.parametrize("brk", EVERY_LINE_BREAK, ids=[f"U+{ord(c):04X}" for c in EVERY_LINE_BREAK])
def test_a_record_holding_a_line_break_is_one_line_and_reads_back_whole(brk: str) -> None:
    records = [_record(0, "plain"), _record(1, brk), _record(2, "plain")]
    body = encode_object([_line(i, record) for i, record in enumerate(records)])
    text = gzip.decompress(body).decode("utf-8")
    # Written: the only line break in the object is the "\n" ending each line, so any reader
    # (splitlines, JavaScript, a Hadoop line reader splitting at "\r") sees three lines.
    assert [ch for ch in text if ch in EVERY_LINE_BREAK] == ["\n"] * 3
    assert [json.loads(line) for line in text.splitlines()] == records
    assert decode_object(body) == records


@pytest.mark.parametrize("brk", EVERY_LINE_BREAK, ids=[f"U+{ord(c):04X}" for c in EVERY_LINE_BREAK])
def test_an_object_written_with_raw_separators_reads_back_whole(brk: str) -> None:
    """Objects an earlier version wrote hold U+0085, U+2028 and U+2029 raw (JSON allows them in a
    string): the reader splits at "\\n" only, so the export's retries and redrives can read them."""
    records = [_record(0, brk), _record(1, brk)]
    raw = "".join(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n" for record in records)
    assert decode_object(gzip.compress(raw.encode("utf-8"))) == records
