"""Admin tokens: 256-bit random bearer tokens, stored only as SHA-256 hashes.

A fast hash is right here (unlike passwords): the token has 256 bits of entropy, so the hash
cannot be brute-forced, and lookups by hash keep authorization to one GetItem.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "csa_"  # noqa: S105 - a public prefix, not a secret
_MAX_TOKEN_LENGTH = 128


def new_admin_token() -> str:
    """A fresh admin token: a recognisable prefix and 32 random bytes, base64url."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_admin_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_admin_token(token: str) -> bool:
    """Cheap shape check so junk never costs a database read."""
    return token.startswith(TOKEN_PREFIX) and len(token) <= _MAX_TOKEN_LENGTH and token.isascii()


def new_app_id() -> str:
    """A public application id: short, URL-safe, unguessable enough to not be enumerable."""
    return "app_" + secrets.token_hex(8)
