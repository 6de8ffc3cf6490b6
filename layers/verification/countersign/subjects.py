"""Who a visitor or account is, as the erasure records name them: a keyed hash per application.

    subject_hash(key, kind, id) = HMAC-SHA256(key, "<kind>:<id>")  (hex)

Each application has its own random 256-bit key, sealed by the secrets KMS key (bound to the
application, key name `subject-hash`) and made on its first erasure. The same visitor id in two
applications hashes differently, and without the key a hash cannot be tested against guessed ids,
so erasure and suppression records are not themselves personal data (SPEC 9).

Two readers, with their cache bounds:

    suppressed(app, visitor, account)   the ingest path (session start, metadata update, events)
    session_erased(app, session ids)    and (events: a session of an erased subject is gone):
                                        the application's suppressions and erased subjects at
                                        most CACHE_TTL_SECONDS old, like settings and keys; an
                                        application with neither never opens its key (no KMS call)
    erased_filter(app)                  export, backfill and the fold: read fresh for each batch,
                                        so a retry after an erasure never writes its subject again
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from countersign import clock, container
from countersign.config import get_config
from countersign.envelope import open_secret, seal_secret
from countersign.store.erasures import ErasedSubject, SubjectKind, erasure_store
from countersign.ttl_cache import TtlCache

#: The envelope's key name for the subject-hash key (signing key names are `key_...`, never this).
SUBJECT_KEY_NAME = "subject-hash"
KEY_TTL_SECONDS = 3600.0


def seal_subject(app_id: str, erasure_id: str, subject_id: str) -> bytes:
    """The subject's id encrypted for its erasure only (KMS context: the app and the erasure id)."""
    return seal_secret(app_id, f"erasure:{erasure_id}", subject_id)


def open_subject(app_id: str, erasure_id: str, sealed: bytes) -> str:
    return open_secret(app_id, f"erasure:{erasure_id}", sealed).decode("utf-8", "surrogatepass")


def subject_hash(key: bytes, kind: SubjectKind, subject_id: str) -> str:
    return hmac.new(key, f"{kind}:{subject_id}".encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def hash_key(app_id: str, *, create: bool) -> bytes | None:
    """The application's subject-hash key (opened); made and stored first when `create`."""

    def load() -> bytes:
        store = erasure_store()
        sealed = store.subject_key(app_id)
        if sealed is None:
            if not create:
                raise _NoKeyYet
            sealed = store.add_subject_key(app_id, seal_secret(app_id, SUBJECT_KEY_NAME, secrets.token_hex(32)))
        return open_secret(app_id, SUBJECT_KEY_NAME, sealed)

    try:
        # A key never changes once made: opened once per container and hour, never on each request.
        return _keys().get_or_load(app_id, load)
    except _NoKeyYet:
        return None


class _NoKeyYet(Exception):
    """The application has had no erasure yet (nothing is cached for it)."""


@dataclass(frozen=True)
class _Subjects:
    """An application's suppressed and erased subjects, as the ingest path caches them."""

    suppressed: frozenset[tuple[SubjectKind, str]]
    erased: ErasedFilter | None


def suppressed(app_id: str, *, visitor_id: str | None, account_id: str | None) -> bool:
    """Whether this visitor or account is suppressed in the application (cached, see module)."""
    current = _subjects().get_or_load(app_id, lambda: _load_subjects(app_id))
    if not current.suppressed:
        return False
    key = hash_key(app_id, create=False)
    if key is None:  # pragma: no cover - a suppression is only ever written after its key
        return False
    wanted: tuple[tuple[SubjectKind, str | None], ...] = (("visitor", visitor_id), ("account", account_id))
    return any(
        (kind, subject_hash(key, kind, subject)) in current.suppressed
        for kind, subject in wanted
        if subject  # an empty id names nobody
    )


def session_erased(app_id: str, *, visitor_id: str, account_id: str, started_ms: int) -> bool:
    """Whether a session belongs to a subject erased (or being erased) since it started: it is gone."""
    current = _subjects().get_or_load(app_id, lambda: _load_subjects(app_id))
    return current.erased is not None and current.erased(visitor_id, account_id, started_ms)


def _load_subjects(app_id: str) -> _Subjects:
    store = erasure_store()
    suppressions = frozenset((found.kind, found.subject_hash) for found in store.suppressions(app_id))
    erased = erased_filter(app_id)
    return _Subjects(suppressions, None if erased is _nothing_erased else erased)


#: Whether a lake record must never be written: (visitorId, accountId, received ms) -> erased?
ErasedFilter = Callable[[str, str, int], bool]


def erased_filter(app_id: str) -> ErasedFilter:
    """What of the application export, backfill and the fold must leave out: data of an erased
    subject received up to its erasure's bound (all of it while the erasure is still running)."""
    erased = erasure_store().erased_subjects(app_id)
    if not erased:
        return _nothing_erased
    key = hash_key(app_id, create=False)
    if key is None:  # pragma: no cover - markers are only ever written after the key
        return _nothing_erased
    by_subject: dict[tuple[str, str], ErasedSubject] = {(found.kind, found.subject_hash): found for found in erased}

    def is_erased(visitor_id: str, account_id: str, received_ms: int) -> bool:
        subjects: tuple[tuple[SubjectKind, str], ...] = (("visitor", visitor_id), ("account", account_id))
        for kind, subject in subjects:
            if not subject:
                continue
            found = by_subject.get((kind, subject_hash(key, kind, subject)))
            if found is not None and (found.through_ms is None or received_ms <= found.through_ms):
                return True
        return False

    return is_erased


def record_erased(is_erased: ErasedFilter, record: dict[str, Any]) -> bool:
    """Whether a landing line (an event or a session change) is data an erasure removed: the fold
    and backfill ask this of every line they would put in the tables."""
    moment = record.get("receivedAt") or record.get("startedAt")
    received_ms = int(clock.parse_iso_ms(moment) * 1000) if isinstance(moment, str) else 0
    return is_erased(str(record.get("visitorId") or ""), str(record.get("accountId") or ""), received_ms)


def _nothing_erased(visitor_id: str, account_id: str, received_ms: int) -> bool:
    return False


@lru_cache(maxsize=1)
def _subjects() -> TtlCache[_Subjects]:
    return TtlCache(get_config().cache_ttl_seconds)


@lru_cache(maxsize=1)
def _keys() -> TtlCache[bytes]:
    return TtlCache(KEY_TTL_SECONDS, max_entries=1024)


for _factory in (_subjects, _keys):
    container.on_reset(_factory.cache_clear)
