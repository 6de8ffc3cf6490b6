"""Signing metadata as a customer's server does: the one token helper of the tests and benchmarks.

Tests that build tokens by hand on purpose (hostile tokens, PyJWT parity, the parser's own
tests) do not use it: they are about the bytes, not about a customer signing.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey


def with_nonce(claims: Mapping[str, Any]) -> dict[str, Any]:
    """`claims` with a fresh random nonce (a customer's server sends a new one per token)."""
    return {"nonce": uuid.uuid4().hex, **claims}


def hs256_token(claims: Mapping[str, Any], secret: str | bytes, *, headers: dict[str, Any] | None = None) -> str:
    """An HS256 JWT signed with the UTF-8 bytes of `secret` (a key's `css_...` secret as revealed)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return jwt.encode(dict(claims), key, algorithm="HS256", headers=headers)


def rs256_token(claims: Mapping[str, Any], private_key: RSAPrivateKey | bytes, *, kid: str | None) -> str:
    """An RS256 JWT with `kid` in its header (none if `kid` is None); `private_key` may be PEM bytes."""
    return jwt.encode(dict(claims), private_key, algorithm="RS256", headers={"kid": kid} if kid is not None else None)


def hs256_credentials(claims: Mapping[str, Any], secret: str | bytes, key_name: str) -> dict[str, str]:
    """The body of a session start or metadata update signed with an HS256 key."""
    return {"jwt": hs256_token(claims, secret), "signingKeyName": key_name}


def public_jwk(private_key: RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The JWK a customer publishes in their JWK Set for `private_key` (RS256, `use: sig`)."""
    numbers = private_key.public_key().public_numbers()

    def uint(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": uint(numbers.n), "e": uint(numbers.e)}
