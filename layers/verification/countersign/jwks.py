"""Customer JWK Sets: which published keys are usable for RS256, and how long they are cached.

`parse_jwk_set` decides which keys of a document are usable (SPEC 3.2); `JwksCache` serves them per
JWKS URI to the token verifier (SPEC 3.4). Cache bounds, per URI and per container:

- **TTL 300 s**: a set fetched less than five minutes ago is used as is.
- **Unknown kid**: a `kid` not in the cached set triggers one refetch, so a newly published key
  works on its first request, not after the TTL.
- **Refetch rate limit**: fetch attempts per URI draw from a token bucket of REFETCH_BURST (3)
  refilled at one per REFETCH_INTERVAL_SECONDS (10 s), whatever the reason (unknown kid, expiry,
  retry), and are single-flight; after a failed attempt the next waits FAILURE_BACKOFF_SECONDS.
- **A drop needs a look**: a kid is dropped as `unknown_kid` only when a successful fetch that
  started after the kid was first asked for does not hold it (a sequence orders the two exactly).
  Such a fetch answers for every kid asked before it, whoever triggered it; its verdict stands
  for REFETCH_INTERVAL_SECONDS. A kid not looked for yet while the bucket is empty is
  `DependencyUnavailable` with Retry-After = seconds until the next fetch may start: tokens with
  random kids can delay a newly published key by one interval, never drop its data.
- **A refused kid is not a missing one**: a kid the latest set holds only in a key that cannot
  verify RS256 (under 2048 bits, `kty` not RSA, `use` not sig, ...) is `unknown_kid` (401) with a
  message that says the key is present and why it is refused, even while the refetch budget is
  spent: only kids the set did not hold wait for a fetch (503).
- **Stale bound 24 h**: when a refetch fails, the last good set keeps serving the kids it holds
  until it is 24 hours old. With nothing usable cached and the fetch failing, the answer is
  `DependencyUnavailable("jwks")` (503, retried by the SDK), never a drop.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Final, TypedDict

from aws_lambda_powertools import Logger
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from countersign.config import get_config
from countersign.errors import ApiError, DependencyUnavailable
from countersign.netguard import AddressPolicy
from countersign.tokens import MAX_KID_CHARS, usable_kid

logger = Logger(child=True)

TTL_SECONDS: Final = 300.0
MAX_STALE_SECONDS: Final = 86_400.0
REFETCH_INTERVAL_SECONDS: Final = 10.0
REFETCH_BURST: Final = 3.0
FAILURE_BACKOFF_SECONDS: Final = 2.0
_MAX_ASKED_KIDS: Final = 1024

MIN_MODULUS_BITS: Final = 2048
# Upper bounds keep one verification cheap: a huge modulus or exponent would make every token
# with that kid cost seconds of CPU.
MAX_MODULUS_BITS: Final = 16_384
MAX_EXPONENT_BITS: Final = 32

# RSA private-key members (RFC 7518 6.3.2): a key carrying them is a leaked private key, not used.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_MAX_REASONS_IN_DETAIL = 3
_REQUIREMENT = (
    f"an RSA public key usable for RS256 (kty RSA, n, e, a non-empty string kid of at most {MAX_KID_CHARS} "
    "characters, a modulus of at "
    f"least {MIN_MODULUS_BITS} bits, use absent or sig, alg absent or RS256, no private members)"
)


def address_policy() -> AddressPolicy:
    """The address policy of every customer JWKS fetch (the test and save routes, key refreshes).

    Deployed, it is the strict policy: public addresses, system trust store. Only the local stack
    sets ALLOW_PRIVATE_JWKS_HOSTS / JWKS_CA_BUNDLE (`countersign local --allow-private-jwks-hosts
    --jwks-ca-bundle PEM`); template.yaml never does (SPEC 3.2).
    """
    config = get_config()
    return AddressPolicy(allow_private_hosts=config.allow_private_jwks_hosts, ca_bundle=config.jwks_ca_bundle)


class KeyReport(TypedDict):
    """One usable key as the `test` route reports it."""

    kid: str
    kty: str
    alg: str
    bits: int


@dataclass(frozen=True)
class JwkSet:
    """The usable keys of one JWK Set document, by kid (treat `keys` and `refused` as read-only).

    `refused` names the kids the document holds only in keys that cannot verify RS256 (a 1024-bit
    modulus, an `oct` key, ...), with why: such a kid is refused for good, not missing.
    """

    keys: dict[str, RSAPublicKey]
    entries: tuple[KeyReport, ...] = field(default=(), repr=False)
    refused: dict[str, str] = field(default_factory=dict, repr=False)

    def report(self) -> list[KeyReport]:
        """The usable keys in document order: `[{"kid", "kty", "alg", "bits"}]`."""
        return [KeyReport(**entry) for entry in self.entries]


class _UnusableKeyError(Exception):
    """Why one member of `keys` cannot verify RS256 tokens."""


def parse_jwk_set(body: bytes) -> JwkSet:
    """The usable RS256 keys of a JWK Set document.

    Keys that are not usable (another `kty`, `use` other than "sig", `alg` other than "RS256",
    `key_ops` without "verify", private members, a modulus under 2048 bits, members that are not
    strict unpadded base64url) are skipped. When two usable keys share a kid, the first one in the
    document wins and the later one is ignored. Raises `ApiError("jwks_document_invalid")` with a
    detail when the body is not a JSON object with a `keys` list, or no key is usable.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and bad UTF-8; deep nesting raises RecursionError.
        raise _document_invalid("The JWKS URI did not return JSON.") from None
    if not isinstance(document, dict):
        raise _document_invalid("The JWK Set document must be a JSON object.")
    members = document.get("keys")
    if not isinstance(members, list):
        raise _document_invalid('The JWK Set document must have a "keys" list.')
    keys: dict[str, RSAPublicKey] = {}
    entries: list[KeyReport] = []
    reasons: list[str] = []
    refused: dict[str, str] = {}
    for index, jwk in enumerate(members):
        try:
            kid, public_key = _usable_key(jwk)
        except _UnusableKeyError as exc:
            reasons.append(f"key {index}{_kid_label(jwk)}: {exc}")
            named = usable_kid(jwk.get("kid")) if isinstance(jwk, dict) else None
            if named is not None:
                refused.setdefault(named, str(exc))  # the first reason, as for usable keys
            continue
        if kid in keys:
            continue  # the first usable key with this kid wins
        keys[kid] = public_key
        entries.append(KeyReport(kid=kid, kty="RSA", alg="RS256", bits=public_key.key_size))
    if not keys:
        shown = "; ".join(reasons[:_MAX_REASONS_IN_DETAIL]) or "the keys list is empty"
        raise _document_invalid(f"The JWK Set has no {_REQUIREMENT}: {shown}.")
    refused = {kid: reason for kid, reason in refused.items() if kid not in keys}
    return JwkSet(keys=keys, entries=tuple(entries), refused=refused)


def _document_invalid(detail: str) -> ApiError:
    return ApiError("jwks_document_invalid", detail=detail)


def _kid_label(jwk: object) -> str:
    kid = jwk.get("kid") if isinstance(jwk, dict) else None
    # A kid is public, but customer-written: quote it, and only the start of a long one.
    return f" (kid {json.dumps(kid[:40])})" if isinstance(kid, str) and kid else ""


def _usable_key(jwk: object) -> tuple[str, RSAPublicKey]:
    if not isinstance(jwk, dict):
        raise _UnusableKeyError("not a JSON object")
    if jwk.get("kty") != "RSA":
        raise _UnusableKeyError("kty is not RSA")
    kid = usable_kid(jwk.get("kid"))
    if kid is None:
        raise _UnusableKeyError(f"no usable kid (a non-empty string of at most {MAX_KID_CHARS} characters)")
    if "use" in jwk and jwk["use"] != "sig":
        raise _UnusableKeyError('use is not "sig"')
    if "alg" in jwk and jwk["alg"] != "RS256":
        raise _UnusableKeyError('alg is not "RS256"')
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise _UnusableKeyError('key_ops does not include "verify"')
    if _PRIVATE_MEMBERS & jwk.keys():
        raise _UnusableKeyError("it holds private-key members: remove them from the published document")
    modulus = _base64url_uint(jwk.get("n"), "n")
    exponent = _base64url_uint(jwk.get("e"), "e")
    bits = modulus.bit_length()
    if bits < MIN_MODULUS_BITS:
        raise _UnusableKeyError(f"the modulus is {bits} bits; at least {MIN_MODULUS_BITS} are required")
    if bits > MAX_MODULUS_BITS:
        raise _UnusableKeyError(f"the modulus is {bits} bits; at most {MAX_MODULUS_BITS} are accepted")
    if exponent.bit_length() > MAX_EXPONENT_BITS:
        raise _UnusableKeyError(f"the exponent is larger than {MAX_EXPONENT_BITS} bits")
    try:
        public_key = RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError:
        raise _UnusableKeyError("n and e are not a valid RSA public key") from None
    return kid, public_key


def _base64url_uint(value: object, member: str) -> int:
    """A JWK integer: unpadded base64url (RFC 7515), canonical, big-endian."""
    if not isinstance(value, str) or not _BASE64URL.fullmatch(value) or len(value) % 4 == 1:
        raise _UnusableKeyError(f"{member} is missing or not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise _UnusableKeyError(f"{member} is not valid base64url") from None
    # Non-zero spare bits would let one key be written several ways: refuse all but the canonical.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != value:
        raise _UnusableKeyError(f"{member} is not canonical base64url")
    return int.from_bytes(raw, "big")


@dataclass(frozen=True)
class _State:
    """What one URI's cache knows; replaced whole, so readers never need the lock."""

    jwk_set: JwkSet | None = None
    fetched_at: float = 0.0  # when the fetch that got `jwk_set` started
    fetched_seq: int = -1  # and its place in the entry's sequence (`_Entry.seq`)
    attempted_at: float | None = None  # when the latest fetch attempt started
    last_attempt_ok: bool = False


@dataclass
class _Bucket:
    """Fetch attempts a URI may still make now (refills over time); guarded by the entry's lock."""

    tokens: float = REFETCH_BURST
    updated_at: float | None = None


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    state: _State = field(default_factory=_State)
    bucket: _Bucket = field(default_factory=_Bucket)
    # One sequence for "a kid was asked for" and "a fetch started": it orders them exactly, where
    # two clock readings may be equal.
    seq: Iterator[int] = field(default_factory=itertools.count)
    # kid -> when (in `seq`) it was first asked for and missing from the cached set. A successful
    # fetch that started later answers for it; until one has, the kid cannot be called unknown.
    asked: dict[str, int] = field(default_factory=dict)
    asked_lock: threading.Lock = field(default_factory=threading.Lock)


class JwksCache:
    """Usable RS256 keys per JWKS URI, refreshed within the bounds in the module docstring.

    `fetch(uri)` returns a document body (in production `netguard.fetch` under the address
    policy); it may raise `ApiError` or `OSError`. Safe to share between threads.
    """

    def __init__(
        self,
        fetch: Callable[[str], bytes],
        *,
        ttl_seconds: float = TTL_SECONDS,
        max_stale_seconds: float = MAX_STALE_SECONDS,
        refetch_interval_seconds: float = REFETCH_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._max_stale = max_stale_seconds
        self._refetch_interval = refetch_interval_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._entries_lock = threading.Lock()

    def public_key(self, uri: str, kid: object) -> RSAPublicKey:
        """The key published under `kid` at `uri`.

        Raises `ApiError("unknown_kid")` for a kid no token can carry (`tokens.usable_kid`,
        without fetching) or one that a successful fetch started after the kid was first asked
        for does not hold, and `DependencyUnavailable("jwks")` (503 with the seconds until the
        next fetch may start as Retry-After) when no usable set can be had or the kid has not
        been looked for yet.
        """
        name = usable_kid(kid)
        if name is None:
            raise ApiError("unknown_kid")
        entry = self._entry(uri)
        state = entry.state
        now = self._clock()
        known = state.jwk_set is not None and name in state.jwk_set.keys
        if known and now - state.fetched_at < self._ttl:
            return state.jwk_set.keys[name]  # type: ignore[union-attr]
        # A known kid of an expired set needs any fetch from now on; a missing kid one started
        # after it was first asked for.
        asked = next(entry.seq) if known else self._asked(entry, name, state, now)
        state = self._refresh(entry, uri, after=asked)
        return self._lookup(entry, state, name, asked)

    def invalidate(self, uri: str) -> None:
        """Forget what is cached for `uri` (e.g. after the saved JWKS URI changed)."""
        with self._entries_lock:
            self._entries.pop(uri, None)

    def _entry(self, uri: str) -> _Entry:
        with self._entries_lock:
            entry = self._entries.get(uri)
            if entry is None:
                entry = self._entries[uri] = _Entry()
            return entry

    def _asked(self, entry: _Entry, kid: str, state: _State, now: float) -> int:
        """When `kid` was first asked for and missing, recorded now if it is new.

        A kid whose absence was confirmed by a fetch over REFETCH_INTERVAL_SECONDS ago is asked
        anew: it may have been published since. When the record is full (a flood of random kids),
        confirmed kids are forgotten first; a kid that still finds no room waits for a fetch
        started after this very request, so it is delayed (503), never dropped.
        """
        with entry.asked_lock:
            asked = entry.asked.get(kid)
            confirmed = asked is not None and state.fetched_seq > asked
            if asked is None or (confirmed and now - state.fetched_at >= self._refetch_interval):
                asked = next(entry.seq)
                if len(entry.asked) >= _MAX_ASKED_KIDS:
                    entry.asked = {k: s for k, s in entry.asked.items() if s >= state.fetched_seq}
                if len(entry.asked) < _MAX_ASKED_KIDS:
                    entry.asked[kid] = asked
            return asked

    def _refresh(self, entry: _Entry, uri: str, *, after: int) -> _State:
        """The state after a fetch started later than `after`, if one has been or may be made now."""
        with entry.lock:
            current = entry.state
            now = self._clock()
            if current.fetched_seq > after and now - current.fetched_at < self._ttl:
                return current  # a fetch started since the need arose has answered it (single flight)
            failed_recently = (
                current.attempted_at is not None
                and not current.last_attempt_ok
                and now - current.attempted_at < FAILURE_BACKOFF_SECONDS
            )
            if failed_recently or not self._take_token(entry.bucket, now):
                return current
            seq = next(entry.seq)
            try:
                jwk_set = parse_jwk_set(self._fetch(uri))
            except (ApiError, OSError) as exc:
                logger.warning(
                    "JWKS refresh failed",
                    extra={"error_code": getattr(exc, "code", type(exc).__name__)},
                )
                state = replace(current, attempted_at=now, last_attempt_ok=False)
            else:
                state = _State(jwk_set, fetched_at=now, fetched_seq=seq, attempted_at=now, last_attempt_ok=True)
            entry.state = state
            return state

    def _take_token(self, bucket: _Bucket, now: float) -> bool:
        self._refill(bucket, now)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _refill(self, bucket: _Bucket, now: float) -> None:
        if bucket.updated_at is not None:
            refill = (now - bucket.updated_at) / self._refetch_interval
            bucket.tokens = min(REFETCH_BURST, bucket.tokens + refill)
        bucket.updated_at = now

    def _lookup(self, entry: _Entry, state: _State, kid: str, asked: int) -> RSAPublicKey:
        jwk_set = state.jwk_set
        if jwk_set is None or self._clock() - state.fetched_at > self._max_stale:
            raise DependencyUnavailable("jwks", retry_after=self._next_fetch_in(entry))
        key = jwk_set.keys.get(kid)
        if key is not None:
            return key
        reason = jwk_set.refused.get(kid)
        if reason is not None:
            # The set holds this kid in a key that can never verify: a definitive drop, whatever
            # the refetch budget (a 503 would make the SDK retry a token that cannot succeed).
            raise ApiError(
                "unknown_kid", f"The token's kid is in the application's JWK Set, but that key is refused: {reason}."
            )
        if state.fetched_seq > asked:
            raise ApiError("unknown_kid")  # looked for after it was asked for, and absent
        # Not looked for yet (the refetch budget is spent, or the endpoint just failed): the key may
        # be newly published, so the SDK retries; never a drop.
        raise DependencyUnavailable("jwks", retry_after=self._next_fetch_in(entry))

    def _next_fetch_in(self, entry: _Entry) -> int:
        """Whole seconds until this URI may be fetched again (at least 1), for Retry-After.

        Read without the entry's lock (which a fetch in progress holds): an estimate suffices.
        """
        now = self._clock()
        bucket, state = entry.bucket, entry.state
        tokens = bucket.tokens
        if bucket.updated_at is not None:
            tokens = min(REFETCH_BURST, tokens + (now - bucket.updated_at) / self._refetch_interval)
        wait = max(0.0, (1 - tokens) * self._refetch_interval)
        if state.attempted_at is not None and not state.last_attempt_ok:
            wait = max(wait, state.attempted_at + FAILURE_BACKOFF_SECONDS - now)
        return max(1, math.ceil(wait))
