"""DynamoDB item sizes and write units, by the published sizing rules.

moto answers every `ReturnConsumedCapacity` with a constant 1.0, so the write units a request
would cost on DynamoDB are computed here from the items it writes:

- an item's size is the sum, over its attributes, of the name's UTF-8 length and the value's size;
- strings and binaries: their length in bytes; numbers: 1 byte per two significant digits, plus 1;
  booleans and null: 1 byte; lists and maps: 3 bytes plus 1 byte per element (plus the member
  names of a map);
- a write costs one write unit per 1 KB of item (rounded up, at least 1); an UpdateItem costs
  by the larger of the item before and after, which for the counters (ADD only) is the after;
- an item that carries a global secondary index's key also writes an index entry, billed the
  same way: the table's and the index's key attributes, the projected ones, plus 100 bytes.
"""

from __future__ import annotations

import math
from typing import Any

WRITE_UNIT_BYTES = 1024
INDEX_ENTRY_OVERHEAD_BYTES = 100


def item_size(item: dict[str, Any]) -> int:
    """The size DynamoDB bills for `item` (low-level attribute values: {"S": ...}, {"N": ...})."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(item: dict[str, Any]) -> int:
    return max(1, math.ceil(item_size(item) / WRITE_UNIT_BYTES))


def keys_only_index_write_units(item: dict[str, Any], table_keys: list[str], index_keys: list[str]) -> int:
    """The write units of the entry a KEYS_ONLY index keeps for `item` (0 if the item lacks its key)."""
    if not all(name in item for name in index_keys):
        return 0
    names = dict.fromkeys([*table_keys, *index_keys])
    size = INDEX_ENTRY_OVERHEAD_BYTES + sum(len(name.encode("utf-8")) + value_size(item[name]) for name in names)
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8"))
    if kind == "N":
        return number_size(str(data))
    if kind == "B":
        return len(data)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "SS":
        return sum(len(text.encode("utf-8")) for text in data)
    if kind == "NS":
        return sum(number_size(text) for text in data)
    if kind == "BS":
        return sum(len(blob) for blob in data)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode("utf-8")) + value_size(element) for name, element in data.items())
    raise ValueError(f"unknown attribute type {kind}")


def number_size(text: str) -> int:
    mantissa = text.lower().split("e", 1)[0].lstrip("+-").replace(".", "")
    significant = mantissa.strip("0") or "0"
    return math.ceil(len(significant) / 2) + 1
