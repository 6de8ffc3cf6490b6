"""Text from the API or the lake, made safe for a terminal (issue 21, defect 6).

Anyone who can send an event chooses its text: an escape sequence (`ESC ] 0 ; … BEL` retitles the
window, `CSI 2 J` clears it), a C1 control, a bidirectional override or a line separator must
reach the operator's terminal as visible escapes, never as characters the terminal acts on.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from countersign.lake import LINE_BREAKS

#: Unicode categories a terminal may act on: controls, format (bidi overrides), surrogates,
#: private use, unassigned, and the line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def unsafe(ch: str) -> bool:
    return ch in LINE_BREAKS or unicodedata.category(ch) in _UNSAFE_CATEGORIES


def printable(value: Any) -> str:
    """API text as one safe terminal line: control characters (escape sequences) shown as \\xNN."""
    text = "" if value is None else str(value)
    return "".join(ch.encode("unicode_escape").decode("ascii") if unsafe(ch) else ch for ch in text)


def json_line(value: Any) -> str:
    """`value` as one line of JSON that reads back equal and holds no character a terminal acts on
    (JSON itself escapes only those below U+0020)."""
    text = json.dumps(value, ensure_ascii=False)
    return "".join(_json_escape(ch) if unsafe(ch) else ch for ch in text)


def _json_escape(ch: str) -> str:
    # Unsafe characters only occur inside JSON strings, where \\uXXXX (a surrogate pair above
    # U+FFFF) stands for them exactly.
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
