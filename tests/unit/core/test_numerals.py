"""Integers written as text on input paths: ASCII digits only, never an unbounded int()."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from countersign.numerals import decimal_at_most

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("7", 7),
        ("100", 100),
        ("101", 101),  # one above the ceiling
        ("0" * 5_000 + "5", 5),  # leading zeros are still the same number
        ("9" * 4_301, 101),  # int() would refuse it: past CPython's 4,300 digits
        ("1" + "0" * 100_000, 101),
        ("²", None),  # str.isdigit() says yes, int() says no
        ("\u0661\u0662", None),  # Arabic-Indic "12": int() reads it, an HTTP client does not
        ("\uff11\uff12", None),  # fullwidth digits
        ("", None),
        (" 5", None),
        ("5 ", None),
        ("-1", None),
        ("+1", None),
        ("1_000", None),  # int() accepts underscores
        ("1e3", None),
        ("0x10", None),
    ],
)
def test_decimal_at_most(text: str, value: int | None) -> None:
    assert decimal_at_most(text, 100) == value


def test_no_digit_test_on_input_text_outside_the_one_rule() -> None:
    """Every `isdigit()`-style test in the shipped code and the local stack goes through numerals."""
    found = []
    for root in ("layers/verification/countersign", "functions", "tools/countersign_dev"):
        for path in sorted((REPO / root).rglob("*.py")):
            if path.name == "numerals.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in {"isdigit", "isdecimal", "isnumeric"}:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not found, f"read integers with countersign.numerals.decimal_at_most: {found}"
