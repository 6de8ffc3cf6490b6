"""Strict JWT parsing and signature verification (SPEC 3.3, 3.4, 4).

Two steps, in this order:

1. `parse` (or `read_header`) + `token_kind` look at the token without any cryptography. They
   refuse, cheaply, everything that is not a small compact JWS whose header and payload are UTF-8
   JSON objects (`malformed_token`), and every algorithm or header we do not accept
   (`unsupported_token`).
2. `verify_hs256` / `verify_rs256` check the signature with PyJWT's HS256 / RS256 algorithm,
   pinned by the caller's signing mode (never read from the token), then the registered claims by
   the rules `jwt.decode` applies (`_check_registered_claims`; tests/unit/core/test_tokens_pyjwt_parity.py
   holds them to jwt.decode's answers). They accept the token as `parse` returned it, so a session
   start parses it once and its whole check costs about a bare `jwt.decode` (BENCHMARKS.md).

Limits:
    MAX_TOKEN_CHARS  16 KiB for the whole compact token: a few KiB of metadata fits with room to
                     spare; anything larger is refused before it is decoded.
    MAX_JSON_DEPTH   20 levels in the header or the payload (metadata itself is bounded more
                     tightly in `countersign.claims`, to fit DynamoDB's 32-level limit).
    MAX_KID_CHARS    256 characters for an RS256 `kid`; it is echoed into diagnostics.
    LEEWAY_SECONDS   60 s of clock skew for `exp`, `nbf` and `iat`.

PyJWT and cryptography are imported inside the verify functions only: unsigned traffic, and every
token refused in step 1, never pays for them on a cold start.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from countersign.errors import ApiError
from countersign.policy import TokenKind
from countersign.strict_json import TOKEN_DECODER, json_depth_exceeds

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from jwt.algorithms import Algorithm

MAX_TOKEN_CHARS = 16 * 1024
MAX_JSON_DEPTH = 20
MAX_KID_CHARS = 256
LEEWAY_SECONDS = 60
MIN_RSA_BITS = 2048

_ALGORITHMS: dict[str, TokenKind] = {"HS256": "hs256", "RS256": "rs256"}
_PYJWT_ALGORITHM: dict[TokenKind, str] = {"hs256": "HS256", "rs256": "RS256"}
# Header members that would let the token choose its own key or change how it is processed:
# key references (jku, x5u), embedded keys (jwk, x5c), extensions (crit, b64), JWE (enc, zip).
_REFUSED_HEADER_MEMBERS = ("jku", "x5u", "jwk", "x5c", "crit", "b64", "enc", "zip")
_ACCEPTED_TYP = frozenset({"jwt", "application/jwt"})
_TIME_CLAIMS = ("exp", "nbf", "iat")
_JWS_SEGMENTS = 3  # header.payload.signature; JWE (5 segments) is not accepted
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_BASE64URL_VALUE = {
    char: value for value, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
_SPARE_BITS = {0: 0, 2: 0b1111, 3: 0b11}  # by segment length mod 4 (1 is never valid)
# Fingerprints of HS256 secrets PyJWT's key checks accepted (`_usable_key`); bounded, cleared whole.
_ACCEPTED_HMAC_KEYS: set[bytes] = set()
_MAX_ACCEPTED_HMAC_KEYS = 4096


@dataclass(frozen=True)
class TokenHeader:
    """The JOSE header of a token that passed `read_header`. Nothing in it is verified yet."""

    alg: str | None
    kid: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class ParsedToken:
    """A token that passed the strict parse: its header and payload (neither verified yet) and
    the bytes its signature covers, so that verification need not parse it again."""

    header: TokenHeader
    payload: dict[str, Any]
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)


def parse(token: object) -> ParsedToken:
    """Parse `token` strictly, without cryptography.

    Refuses with `malformed_token`: anything but an ASCII string of at most MAX_TOKEN_CHARS, not
    exactly three segments, segments that are not canonical unpadded base64url, a header or
    payload that is not a UTF-8 JSON object (duplicate member names, NaN/Infinity and nesting
    deeper than MAX_JSON_DEPTH included).
    """
    header, payload, signing_input, signature = _parse(token)
    return ParsedToken(_header(header), payload, signing_input, signature)


def read_header(token: object) -> TokenHeader:
    """The header of `token`, parsed as strictly as `parse` does (which see)."""
    return parse(token).header


def token_kind(header: TokenHeader, *, require_kid: bool = True) -> TokenKind:
    """Which signing mode the header asks for: "hs256" or "rs256".

    `unsupported_token` for any other `alg` (matched case-sensitively, so every spelling of
    "none" is refused), for headers carrying jku, x5u, jwk, x5c, crit, b64, enc or zip, and for a
    `typ` other than JWT. With `require_kid` (the default), an RS256 header needs a non-empty
    string `kid` of at most MAX_KID_CHARS, else `unknown_kid`; the verification core passes
    `require_kid=False` so that the settings gate is applied before the kid is looked at.
    """
    raw = header.raw
    refused = [name for name in _REFUSED_HEADER_MEMBERS if name in raw]
    if refused:
        raise ApiError(
            "unsupported_token",
            f"The token header carries {', '.join(refused)}, which this service does not accept.",
        )
    kind = _ALGORITHMS.get(header.alg) if header.alg is not None else None
    if kind is None:
        raise ApiError(
            "unsupported_token",
            "The token's alg is not accepted: sign with HS256 (shared secret) or RS256 (JWKS).",
        )
    if "typ" in raw:
        typ = raw["typ"]
        if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYP:
            raise ApiError("unsupported_token", 'The token header typ must be "JWT" when present.')
    if require_kid and kind == "rs256" and rs256_kid(header) is None:
        raise ApiError("unknown_kid", "An RS256 token needs a kid header naming a key of the JWK Set.")
    return kind


def rs256_kid(header: TokenHeader) -> str | None:
    """The header's `kid` if it is usable for a JWK Set lookup (`usable_kid`), else None."""
    return usable_kid(header.kid)


def usable_kid(kid: object) -> str | None:
    """`kid` if it can name an RS256 key, else None: the one rule for the token parser and the
    JWK Set validation, so a key reported usable is one a token can select.

    A non-empty string of at most MAX_KID_CHARS characters that is Unicode text (a lone surrogate
    cannot be stored or echoed as UTF-8).
    """
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS:
        return None
    try:
        kid.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return kid


def verify_hs256(token: str | ParsedToken, secret: bytes) -> dict[str, Any]:
    """Verify an HS256 token (as sent, or as `parse` returned it) with `secret` (the key's UTF-8
    bytes) and return its claims.

    The algorithm is pinned to HS256. Checks run in this order, each raising an ApiError:
    structure (malformed_token), header (unsupported_token), types of exp/nbf/iat
    (invalid_claims), a non-string kid (malformed_token), signature (invalid_signature), then the
    claims `jwt.decode` validates: iat/nbf (token_not_yet_valid), exp (token_expired), aud/sub/jti
    (invalid_claims). A secret that is not non-empty bytes is a programming error (TypeError /
    ValueError).
    """
    if not isinstance(secret, bytes):
        raise TypeError("an HS256 secret must be bytes")
    if not secret:
        raise ValueError("an HS256 secret must not be empty")
    return _verify(token, secret, "hs256")


def verify_rs256(token: str | ParsedToken, public_key: RSAPublicKey) -> dict[str, Any]:
    """Verify an RS256 token with `public_key` and return its claims.

    The algorithm is pinned to RS256. Raises the same ApiErrors as `verify_hs256`, plus
    `unknown_kid` if the key for the kid is an RSA key under MIN_RSA_BITS (it is not usable for
    RS256). A key that is not an RSAPublicKey is a programming error (TypeError).
    """
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    if not isinstance(public_key, RSAPublicKey):
        raise TypeError("an RS256 key must be a cryptography RSAPublicKey")
    if public_key.key_size < MIN_RSA_BITS:
        raise ApiError(
            "unknown_kid",
            f"The JWK for this kid is under {MIN_RSA_BITS} bits, which is not accepted for RS256.",
        )
    return _verify(token, public_key, "rs256")


def _verify(token: str | ParsedToken, key: bytes | RSAPublicKey, expected: TokenKind) -> dict[str, Any]:
    parsed = token if isinstance(token, ParsedToken) else parse(token)
    kind = token_kind(parsed.header, require_kid=False)
    if kind != expected:
        # The caller chose the mode (and therefore the key); a token of the other mode is never
        # checked with this key, which is what defeats RS256 -> HS256 key confusion.
        raise ApiError(
            "unsupported_token",
            f"This token is not signed with {_PYJWT_ALGORITHM[expected]}, the algorithm of this mode.",
        )
    payload = parsed.payload
    _check_time_claim_types(payload)
    if not isinstance(parsed.header.raw.get("kid", ""), str):
        raise ApiError("malformed_token")  # PyJWT refuses a kid that is not a string
    _check_signature(parsed, key, expected)
    _check_registered_claims(payload, now=time.time())
    return payload


@lru_cache(maxsize=2)
def _pyjwt_algorithm(kind: TokenKind) -> Algorithm:
    from jwt.algorithms import get_default_algorithms

    return get_default_algorithms()[_PYJWT_ALGORITHM[kind]]


def _check_signature(parsed: ParsedToken, key: bytes | RSAPublicKey, kind: TokenKind) -> None:
    """PyJWT's own HS256 / RS256 check, as `jwt.decode` runs it (constant-time for HMAC)."""
    algorithm = _pyjwt_algorithm(kind)
    if not algorithm.verify(parsed.signing_input, _usable_key(algorithm, key, kind), parsed.signature):
        raise ApiError("invalid_signature")


def _usable_key(algorithm: Algorithm, key: bytes | RSAPublicKey, kind: TokenKind) -> Any:
    """What `jwt.decode` does with a key before verifying: `prepare_key` (which refuses a PEM, SSH
    or DER key as an HMAC secret), then the minimum length (a warning for HS256).

    An HS256 secret that passed both is remembered by its SHA-256 fingerprint (never the secret
    itself), so the check runs once per secret rather than per token: it tries three DER parsers,
    which costs more than the HMAC.
    """
    if kind == "rs256":
        # verify_rs256 let through only an RSAPublicKey of at least MIN_RSA_BITS, which
        # prepare_key returns as it is and the length check accepts.
        return key
    fingerprint = hashlib.sha256(key).digest() if isinstance(key, bytes) else None
    if fingerprint is not None and fingerprint in _ACCEPTED_HMAC_KEYS:
        return key  # prepare_key returns the bytes it accepts unchanged
    from jwt.exceptions import InvalidKeyError

    try:
        prepared = algorithm.prepare_key(key)
    except InvalidKeyError:
        # The key cannot verify this algorithm at all (e.g. a PEM used as an HMAC secret).
        raise ApiError("invalid_signature", "The token signature cannot be verified with this key.") from None
    too_short = algorithm.check_key_length(prepared)
    if too_short is not None:
        from jwt.warnings import InsecureKeyLengthWarning

        warnings.warn(too_short, InsecureKeyLengthWarning, stacklevel=2)
    elif fingerprint is not None:
        if len(_ACCEPTED_HMAC_KEYS) >= _MAX_ACCEPTED_HMAC_KEYS:
            _ACCEPTED_HMAC_KEYS.clear()
        _ACCEPTED_HMAC_KEYS.add(fingerprint)
    return prepared


def _check_registered_claims(payload: dict[str, Any], *, now: float) -> None:
    """The registered-claim rules of `jwt.decode` with LEEWAY_SECONDS and no expected audience,
    issuer or subject, in its order. Time claims are numbers here (`_check_time_claim_types`) and,
    as PyJWT does, compared as whole seconds."""
    if "iat" in payload and int(payload["iat"]) > now + LEEWAY_SECONDS:
        raise ApiError("token_not_yet_valid")
    if "nbf" in payload and int(payload["nbf"]) > now + LEEWAY_SECONDS:
        raise ApiError("token_not_yet_valid")
    if "exp" in payload and int(payload["exp"]) <= now - LEEWAY_SECONDS:
        raise ApiError("token_expired")
    if payload.get("aud"):
        # RFC 7519 4.1.3: a token addressed to an audience must be refused by anyone else, so a
        # token minted for another service cannot be replayed here.
        raise ApiError("invalid_claims", "Tokens with an aud claim are not accepted.")
    if "sub" in payload and not isinstance(payload["sub"], str):
        raise ApiError("invalid_claims", "The token claims are not valid: Subject must be a string.")
    if "jti" in payload and not isinstance(payload["jti"], str):
        raise ApiError("invalid_claims", "The token claims are not valid: JWT ID must be a string.")


def _header(raw: dict[str, Any]) -> TokenHeader:
    alg = raw.get("alg")
    kid = raw.get("kid")
    return TokenHeader(
        alg=alg if isinstance(alg, str) else None,
        kid=kid if isinstance(kid, str) else None,
        raw=raw,
    )


def _check_time_claim_types(payload: dict[str, Any]) -> None:
    # PyJWT coerces with int(), which would accept "123" or true; only JSON numbers are meaningful.
    for name in _TIME_CLAIMS:
        if name not in payload:
            continue
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ApiError(
                "invalid_claims",
                f"The {name} claim must be a number of seconds since the epoch.",
            )


def _parse(token: object) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    if not isinstance(token, str):
        raise ApiError("malformed_token", "The jwt must be a string.")
    # The size check comes first so that a multi-megabyte value costs one len().
    if len(token) > MAX_TOKEN_CHARS:
        raise ApiError("malformed_token", f"The jwt is longer than {MAX_TOKEN_CHARS} characters.")
    if not token.isascii():
        raise ApiError("malformed_token", "The jwt must be ASCII (compact base64url serialization).")
    segments = token.split(".")
    if len(segments) != _JWS_SEGMENTS:
        raise ApiError("malformed_token", "The jwt must have exactly three dot-separated segments.")
    header = _json_object(_base64url(segments[0], "header"), "header")
    payload = _json_object(_base64url(segments[1], "payload"), "payload")
    signature = _base64url(segments[2], "signature")
    signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
    return header, payload, signing_input, signature


def _base64url(segment: str, name: str) -> bytes:
    # Unpadded base64url only (RFC 7515 2), and canonical: exactly one encoding per token.
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ApiError("malformed_token", f"The jwt {name} is not unpadded base64url.")
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:
        raise ApiError("malformed_token", f"The jwt {name} is not unpadded base64url.") from None
    # Canonical: the bits of the last character that encode no byte are zero (else another
    # spelling of the same bytes exists).
    spare_bits = _SPARE_BITS[len(segment) % 4]
    if spare_bits and _BASE64URL_VALUE[segment[-1]] & spare_bits:
        raise ApiError("malformed_token", f"The jwt {name} is not canonical base64url.")
    return decoded


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = TOKEN_DECODER.decode(data.decode("utf-8"))
    except (ValueError, RecursionError):
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; so are the hooks' refusals.
        raise ApiError("malformed_token", f"The jwt {name} is not UTF-8 JSON.") from None
    if not isinstance(value, dict):
        raise ApiError("malformed_token", f"The jwt {name} must be a JSON object.")
    if json_depth_exceeds(value, MAX_JSON_DEPTH):
        raise ApiError("malformed_token", f"The jwt {name} nests deeper than {MAX_JSON_DEPTH} levels.")
    return value
