"""Text as its ASCII JSON escape: any string (a lone surrogate included) in a form every DynamoDB
attribute name or value can hold, read back exactly. Pure: coverage's counter names and the
store's key and kid labels use the same form."""

from __future__ import annotations

import json


def storable(text: str) -> str:
    """`text` as its ASCII JSON escape without the quotes: valid in any attribute name or value
    (a lone surrogate, which UTF-8 cannot carry, included) and read back exactly by `unstorable`."""
    return json.dumps(text)[1:-1]


def unstorable(stored: str) -> str:
    return str(json.loads(f'"{stored}"'))
