"""What the claims of a session start or a metadata update must hold (SPEC 3.3).

The claims are a verified JWT payload, or the `metadata` object of an unsigned request:

    {"nonce": "...", "visitor": {"id": "...", ...}, "account": {"id": "...", ...}, "exp": ...}

Rules common to both (`check_claims`):
    - JWTs need `nonce`, a non-empty string at the top level (one inside visitor/account does not
      count); unsigned metadata needs none.
    - `visitor` and `account`, when present, are JSON objects whose `id`, when present, is a
      string of at most MAX_ID_CHARS (numbers, booleans and null are refused, not converted).
    - each of them serializes to at most MAX_METADATA_BYTES of UTF-8 JSON and nests at most
      MAX_METADATA_DEPTH levels (DynamoDB allows 32 levels per item; the session item wraps them).
Session start (`session_identity`): an empty or missing visitor id makes an anonymous visitor
with a random id; RS256 needs both `visitor` and `account`, each with an `id` (may be empty).
Metadata update (`metadata_update`): exactly one of `visitor` / `account`, whose `id` equals the
session's.

Every refusal is an `ApiError` with a drop code: invalid_claims, missing_nonce, identity_mismatch,
token_expired, token_not_yet_valid.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from countersign.errors import ApiError
from countersign.policy import TokenKind
from countersign.strict_json import json_depth_exceeds
from countersign.tokens import LEEWAY_SECONDS, MAX_JSON_DEPTH

MAX_ID_CHARS = 256
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 16
ANONYMOUS_PREFIX = "anon-"

_SECTIONS = ("visitor", "account")
# Reused: json.dumps with options builds a new encoder on every call.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class SessionIdentity:
    """Who a new session is about. `visitor` and `account` hold the metadata without `id`."""

    visitor_id: str
    account_id: str
    visitor: dict[str, Any]
    account: dict[str, Any]
    anonymous: bool
    expires_at: float | None


@dataclass(frozen=True)
class MetadataUpdate:
    """Fields to merge into one side of a session's metadata (`id` already checked, left out)."""

    target: Literal["visitor", "account"]
    fields: dict[str, Any]


def check_claims(claims: object, *, signed: TokenKind | None, now: float | None = None) -> dict[str, Any]:
    """Apply the rules every request shares (module docstring) and return `claims` as a dict.

    `signed` is how the claims were verified: "hs256", "rs256", or None for unsigned metadata.
    With `now`, a JWT's `exp` and `nbf` are also held against it with LEEWAY_SECONDS, the rule
    PyJWT applies against the wall clock: the injected clock of the verification core decides
    too, so the session's end and the tests agree with it.
    """
    if not isinstance(claims, dict):
        raise ApiError("invalid_claims", "The claims must be a JSON object.")
    if json_depth_exceeds(claims, MAX_JSON_DEPTH):
        raise ApiError("invalid_claims", f"The claims nest deeper than {MAX_JSON_DEPTH} levels.")
    if signed is not None:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise ApiError("missing_nonce")
        exp, nbf, _iat = _time_claim(claims, "exp"), _time_claim(claims, "nbf"), _time_claim(claims, "iat")
        if now is not None and exp is not None and exp <= now - LEEWAY_SECONDS:
            raise ApiError("token_expired")
        if now is not None and nbf is not None and nbf > now + LEEWAY_SECONDS:
            raise ApiError("token_not_yet_valid")
    for section in _SECTIONS:
        if section in claims:
            _check_section(section, claims[section])
    return claims


def session_identity(
    claims: dict[str, Any],
    *,
    signed: TokenKind | None,
    now: float,
) -> SessionIdentity:
    """The identity and metadata a session starts with.

    For a JWT the session ends at `exp` (`expires_at`, None without one); `exp` and `nbf` are
    held against `now` (see `check_claims`). A token accepted only thanks to the leeway (its `exp`
    already passed) gives a session that ends when the leeway does, at `exp` + LEEWAY_SECONDS: a
    session the service creates can always be used, never answers 201 already ended (an SDK
    would start it again and again). Unsigned metadata carries no time claims: an `exp` there is
    ignored.
    """
    check_claims(claims, signed=signed, now=now)
    if signed == "rs256":
        for section in _SECTIONS:
            if not isinstance(claims.get(section), dict) or "id" not in claims[section]:
                raise ApiError(
                    "invalid_claims",
                    "An RS256 token needs both visitor and account objects, each with an id "
                    '(use "" for an anonymous visitor or no account).',
                )
    visitor = dict(claims.get("visitor") or {})
    account = dict(claims.get("account") or {})
    visitor_id: str = visitor.pop("id", "")
    account_id: str = account.pop("id", "")
    anonymous = visitor_id == ""
    if anonymous:
        # 128 random bits: an anonymous visitor's id cannot be guessed or collide.
        visitor_id = ANONYMOUS_PREFIX + secrets.token_urlsafe(16)

    return SessionIdentity(
        visitor_id=visitor_id,
        account_id=account_id,
        visitor=visitor,
        account=account,
        anonymous=anonymous,
        expires_at=_session_end(_time_claim(claims, "exp"), now) if signed is not None else None,
    )


def _session_end(exp: float | None, now: float) -> float | None:
    if exp is None or exp > now:
        return exp
    return exp + LEEWAY_SECONDS  # after now: check_claims refused an exp at or before now - leeway


def metadata_update(
    claims: dict[str, Any],
    *,
    session_visitor_id: str,
    session_account_id: str,
    signed: TokenKind | None,
    session_anonymous: bool = False,
) -> MetadataUpdate:
    """The fields a metadata update merges into the session (setVisitorData / setAccountData).

    The claims hold exactly one of `visitor` or `account` (else invalid_claims), with an `id` equal
    to the session's (else identity_mismatch). An anonymous session was started with an empty
    visitor id, so with `session_anonymous` an empty id also matches (the customer's server does
    not know the id the service assigned); the assigned id matches too.
    """
    check_claims(claims, signed=signed)
    present = [section for section in _SECTIONS if section in claims]
    if len(present) != 1:
        raise ApiError(
            "invalid_claims",
            "A metadata update holds exactly one of visitor or account"
            + (", not both." if present else ", and this one holds neither."),
        )
    target: Literal["visitor", "account"] = "visitor" if present[0] == "visitor" else "account"
    fields = dict(claims[target])
    if "id" not in fields:
        raise ApiError("identity_mismatch", f"The {target} update needs the session's {target} id.")
    given = fields.pop("id")
    expected = session_visitor_id if target == "visitor" else session_account_id
    matches = given == expected or (target == "visitor" and session_anonymous and given == "")
    if not matches:
        raise ApiError("identity_mismatch", f"The {target} id differs from the session's {target} id.")
    return MetadataUpdate(target=target, fields=fields)


def _time_claim(claims: dict[str, Any], name: str) -> float | None:
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ApiError("invalid_claims", f"The {name} claim must be a number of seconds since the epoch.")
    return float(value)


def merged_metadata(current: dict[str, Any], update: MetadataUpdate) -> dict[str, Any]:
    """The session's `update.target` metadata after the update: the same limits as at session start
    hold for the result (a stream of small updates cannot grow a session past them)."""
    merged = {**current, **update.fields}
    _check_section(update.target, merged)
    return merged


def _check_section(section: str, value: object) -> None:
    if not isinstance(value, dict):
        raise ApiError("invalid_claims", f"{section} must be a JSON object.")
    if "id" in value:
        ident = value["id"]
        if not isinstance(ident, str):
            raise ApiError("invalid_claims", f"{section}.id must be a string.")
        if len(ident) > MAX_ID_CHARS:
            raise ApiError("invalid_claims", f"{section}.id is longer than {MAX_ID_CHARS} characters.")
    if json_depth_exceeds(value, MAX_METADATA_DEPTH):
        raise ApiError("invalid_claims", f"{section} nests deeper than {MAX_METADATA_DEPTH} levels.")
    try:
        # allow_nan=False and the UTF-8 encode refuse what DynamoDB could not store anyway.
        text = _COMPACT_JSON.encode(value)
        size = len(text.encode("utf-8"))
    except ValueError:  # UnicodeEncodeError included
        raise ApiError(
            "invalid_claims", f"{section} holds a value that is not JSON (NaN, Infinity or a lone surrogate)."
        ) from None
    if size > MAX_METADATA_BYTES:
        raise ApiError("invalid_claims", f"{section} is larger than {MAX_METADATA_BYTES} bytes of JSON.")
