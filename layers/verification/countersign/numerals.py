"""Integers written as text on input paths (HTTP headers, query strings): one rule for all.

Two traps sit between `str.isdigit()` and `int()`: isdigit() accepts characters int() refuses
("²", other superscripts), and int() refuses strings of more than 4,300 digits (CPython's
conversion limit, a ValueError). Input text is therefore read here, with ASCII digits only and
never an unbounded conversion: every caller compares the value with a limit, so a value above
it can be reported as just "above" without converting thousands of digits.
"""

from __future__ import annotations

import re

_DECIMAL = re.compile(r"[0-9]+", re.ASCII)


def decimal_at_most(text: str, ceiling: int) -> int | None:
    """`text` as a non-negative decimal integer, or None when it is not ASCII digits alone.

    A value above `ceiling` comes back as `ceiling + 1`, however many digits it has. White space
    is not a digit: a header's caller strips the value first, as HTTP allows there.
    """
    if not _DECIMAL.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(ceiling)):
        return ceiling + 1
    return min(int(significant), ceiling + 1)
