"""JSON the service accepts: the one set of parsing rules for request bodies and token segments.

Refused (as ValueError, which callers turn into their own 400): NaN/Infinity and numbers out of
float range (`1e999`), which no encoder of ours or DynamoDB's writes back; and, for token
segments, duplicate member names, which is how parser-differential attacks hide a second `alg`
or `id` (RFC 7515 5.2). Request bodies are also bounded in depth and must be Unicode text
(`request_body`: MAX_BODY_DEPTH, or for POST /events, whose events have a per-event bound of
their own, the wider SDK_BODY_DEPTH_GUARD); every JSON limit is measured with `json_depth_exceeds`.
"""

from __future__ import annotations

import json
import math
import re
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


#: How deep a request body may nest (token segments and metadata have tighter limits of their own).
MAX_BODY_DEPTH = 32
#: POST /events' guard against pathological depth, for the body as a whole. It is not a rule
#: about events: an event is bounded per event (events.MAX_EVENT_DEPTH, 16 levels) and rejected
#: alone; only a body nested deeper than this guard (an event more than 126 levels deep, which no
#: SDK sends) is refused whole, so the two bounds cannot be mistaken for one another.
SDK_BODY_DEPTH_GUARD = 128
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class BodyRefused(ValueError):
    """A request body that is not a JSON object we accept; the message says why, if not obvious."""


# Decoders are made once: json.loads with hooks would build a new one per call.
BODY_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
TOKEN_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_members, parse_constant=_refuse_constant, parse_float=_finite_float
)


def json_depth_exceeds(value: object, limit: int) -> bool:
    """True if `value` (parsed JSON) nests objects/arrays deeper than `limit` levels.

    A scalar has depth 0, `{}` and `[]` depth 1. Iterative (one nesting level at a time, keeping
    only containers), so it cannot hit the recursion limit and costs little on wide bodies.
    """
    level: list[Any] = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        inner: list[Any] = []
        for container in level:
            for child in container.values() if isinstance(container, dict) else container:
                if isinstance(child, (dict, list)):
                    inner.append(child)
        level = inner
    return False


def request_body(raw: bytes, *, max_depth: int = MAX_BODY_DEPTH) -> dict[str, Any]:
    """The request body `raw` as a JSON object, or BodyRefused.

    Refused too: nesting deeper than `max_depth`, and strings that are not Unicode text (a lone
    surrogate escape such as "\\ud800"), which cannot be stored as UTF-8.
    """
    try:
        value = BODY_DECODER.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise BodyRefused() from error
    if not isinstance(value, dict):
        raise BodyRefused()
    if json_depth_exceeds(value, max_depth):
        raise BodyRefused(f"The JSON body is nested deeper than {max_depth} levels.")
    if _SURROGATE_ESCAPE.search(raw) and _holds_lone_surrogate(value):
        raise BodyRefused("The JSON body holds a lone surrogate (\\ud800-\\udfff): not Unicode text.")
    return value


def _holds_lone_surrogate(value: Any) -> bool:
    # Only run when the text has a surrogate escape at all: a valid pair (an escaped emoji) passes.
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
