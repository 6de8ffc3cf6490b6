"""What the CLI shows: the one table renderer, JSON output, prompts, and terminal safety.

Anyone who can send an event chooses its text: an escape sequence (`ESC ] 0 ; … BEL` retitles the
window, `CSI 2 J` clears it), a C1 control, a bidirectional override or a line separator must
reach the operator's terminal as visible escapes, never as characters the terminal acts on.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from countersign.lake import LINE_BREAKS
from countersign_dev.errors import CliError

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


# ------------------------------------------------------------------------------------------ tables


def cell(value: Any, width: int | None = None, none: str = "-", booleans: tuple[str, str] = ("on", "off")) -> str:
    """One table cell: `none` for a missing value, on/off for a boolean, safe text cut to `width`."""
    if value is None:
        return none
    if isinstance(value, bool):
        return booleans[0] if value else booleans[1]
    text = printable(value)
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    empty: str = "(none)",
    *,
    width: int | None = 40,
    none: str = "-",
    booleans: tuple[str, str] = ("on", "off"),
    rule: bool = False,
    count: bool = False,
) -> str:
    """Columns aligned under their headers (`empty` when there is no row); `rule` draws a line under
    the headers and `count` adds "(N rows)", as SQL shells do."""
    if not rows and not rule:
        return f"{empty}\n"
    cells = [[cell(value, width, none, booleans) for value in row] for row in rows]
    heads = [printable(header) for header in headers]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(heads)]
    lines = [heads, *cells]
    if rule:
        lines.insert(1, ["-" * w for w in widths])
    text = "".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(line)).rstrip() + "\n" for line in lines)
    if count:
        text += f"({len(rows)} row{'' if len(rows) == 1 else 's'})\n"
    return text


def pairs(items: Sequence[tuple[str, Any]]) -> str:
    """Label and value, one pair a line, values aligned."""
    width = max(len(label) for label, _ in items)
    return "".join(f"{label.ljust(width)}  {cell(value)}\n" for label, value in items)


def count(value: Any, noun: str) -> str:
    return f"{value} {noun}{'' if value == 1 else 's'}"


def json_text(value: Any) -> str:
    """The API's JSON, indented (non-ASCII escaped: nothing a terminal acts on)."""
    return json.dumps(value, indent=2, default=str) + "\n"


# ----------------------------------------------------------------------------------------- prompts


@dataclass
class Terminal:
    """Where output, prompts and answers go (tests hand in their own streams)."""

    out: TextIO
    err: TextIO
    answers: TextIO

    def ask(self, question: str) -> str:
        """One line of answer to `question`; none (end of input) is an error that says --yes."""
        self.err.write(question)
        self.err.flush()
        line = self.answers.readline()
        if not line:
            self.err.write("\n")
            raise CliError("no answer to the confirmation: answer it in a terminal, or pass --yes")
        if not self.answers.isatty():  # a piped answer is not echoed: end the prompt's line
            self.err.write("\n")
        return line.rstrip("\r\n")


def terminal() -> Terminal:
    import sys

    return Terminal(sys.stdout, sys.stderr, sys.stdin)
