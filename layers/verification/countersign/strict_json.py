"""JSON the service accepts: the one set of parsing rules for request bodies and token segments.

Refused (as ValueError, which callers turn into their own 400): NaN/Infinity and numbers out of
float range (`1e999`), which no encoder of ours or DynamoDB's writes back; and, for token
segments, duplicate member names, which is how parser-differential attacks hide a second `alg`
or `id` (RFC 7515 5.2).
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


# Decoders are made once: json.loads with hooks would build a new one per call.
BODY_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
TOKEN_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_members, parse_constant=_refuse_constant, parse_float=_finite_float
)
