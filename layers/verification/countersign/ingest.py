"""The SDK routes' behaviour (SPEC 3.3, 3.4): start a session, update its metadata, accept events.

    request -> current_view (cached settings + keys) -> verify / recheck -> store -> answer

Drops (the acceptance table refused the request) are counted by reason and kept as recent drops
for diagnostics, then answered with their status. A failing dependency is never a drop: it
raises DependencyUnavailable (503 with Retry-After) before anything is counted.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from countersign import clock, container, key_usage, tenancy
from countersign.app_view import AppView, KeyDirectory, current_view, jwks_keys, possible_app_id
from countersign.claims import merged_metadata, metadata_update, session_identity
from countersign.config import get_config
from countersign.coverage import counter_name
from countersign.errors import ApiError
from countersign.events import check_batch, insert_id_scope
from countersign.observability import metrics
from countersign.sdk_requests import Credentials, EventsRequest
from countersign.store.data import EventRecord, SessionChanged, SessionRecord, data_store
from countersign.subjects import session_erased, suppressed
from countersign.ttl_cache import TtlCache
from countersign.verify import credential_labels, recheck, subject_allowed, verify_credentials

logger = Logger(child=True)

SESSION_ID_PREFIX = "s_"
#: 9999-12-31T23:59:59Z, the latest end a session can state: a token's exp beyond it ends the session here.
MAX_SESSION_END = 253_402_300_799.0
_MAX_SESSION_ID_CHARS = 64
_METADATA_ATTEMPTS = 5

T = TypeVar("T")


def start_session(app_id: str, credentials: Credentials) -> dict[str, Any]:
    """POST /sessions: verify the credentials, then store a session bound to this application."""
    now = time.time()
    view = current_view(app_id)
    with _counting_drops(app_id, "sessions", credentials):
        verified = verify_credentials(credentials, view.settings, KeyDirectory(view), jwks_keys(), now=now)
        identity = session_identity(verified.claims, signed=verified.signed, now=now)
        subject_allowed(
            verified, suppressed=suppressed(app_id, visitor_id=identity.visitor_id, account_id=identity.account_id)
        )
    default_end = now + get_config().session_ttl_seconds
    session = SessionRecord(
        app_id=app_id,
        # 192 random bits: a session id cannot be guessed, so it can stand in for the credentials.
        session_id=SESSION_ID_PREFIX + secrets.token_urlsafe(24),
        visitor_id=identity.visitor_id,
        account_id=identity.account_id,
        visitor=identity.visitor,
        account=identity.account,
        anonymous=identity.anonymous,
        signed=verified.signed,
        key_name=verified.key_name,
        kid=verified.kid,
        created_ms=int(now * 1000),
        # The session ends at the token's exp; without one, after the configured lifetime.
        expires_at=min(identity.expires_at, MAX_SESSION_END) if identity.expires_at is not None else default_end,
    )
    data_store().put_session(session)
    # Counted once stored, in the counter write that also counts the verified request for its rate
    # limit (a failure of the count is a 503 like the session write's: the SDK retries).
    tenancy.count_request(
        app_id, "sdk", {counter_name("s", verified.signed or "unsigned", verified.key_name, verified.kid): 1}
    )
    key_usage.note_use(app_id, key_name=verified.key_name, kid=verified.kid, at=datetime.fromtimestamp(now, UTC))
    _sessions().put((app_id, session.session_id), session)
    metrics.add_metric(name="SessionsStarted", unit=MetricUnit.Count, value=1)
    logger.info("session started", extra={"app_id": app_id, "signed": verified.signed or "unsigned"})
    return _session_json(session)


def update_session(app_id: str, session_id: str, credentials: Credentials) -> dict[str, Any]:
    """PATCH /sessions/{id}: verify the update like a session start, then merge the fields."""
    for _ in range(_METADATA_ATTEMPTS):
        session = _live_session(app_id, session_id, cached=False)
        view = current_view(app_id)
        with _counting_drops(app_id, "session-update", credentials):
            verified = verify_credentials(
                credentials,
                view.settings,
                KeyDirectory(view),
                jwks_keys(),
                now=time.time(),
                session_signed=session.signed,
            )
            update = metadata_update(
                verified.claims,
                session_visitor_id=session.visitor_id,
                session_account_id=session.account_id,
                signed=verified.signed,
                session_anonymous=session.anonymous,
            )
            subject_allowed(
                verified, suppressed=suppressed(app_id, visitor_id=session.visitor_id, account_id=session.account_id)
            )
        visitor, account = session.visitor, session.account
        if update.target == "visitor":
            visitor = merged_metadata(visitor, update)
        else:
            account = merged_metadata(account, update)
        try:
            data_store().replace_metadata(session, visitor, account, changed_ms=int(time.time() * 1000))
        except SessionChanged:
            continue
        updated = replace(session, visitor=visitor, account=account, metadata_version=session.metadata_version + 1)
        _sessions().put((app_id, session_id), updated)
        # A verified request with no counters of its own: counted for its rate limit alone, after
        # the update (which stands whatever this write does).
        tenancy.count_request(app_id, "sdk", {}, best_effort=True)
        key_usage.note_use(app_id, key_name=verified.key_name, kid=verified.kid, at=clock.now())
        return {**_session_json(updated), "visitor": visitor, "account": account}
    raise ApiError("service_unavailable", "The session is being updated concurrently; retry the request.")


def accept_events(app_id: str, request: EventsRequest) -> dict[str, Any]:
    """POST /events: re-check the session against today's settings and keys, then store each
    new event exactly once (dedupe), rejecting invalid ones by index."""
    session = _live_session(app_id, request.session_id, cached=True)
    view = current_view(app_id)
    sent = len(request.events) if request.events is not None else 0
    with _counting_drops(app_id, "events", None, session=session, events=sent):
        _recheck(session, view)

    now_ms = int(time.time() * 1000)
    config = get_config()
    batch = check_batch(
        request,
        visitor_id=session.visitor_id,
        account_id=session.account_id,
        now_ms=now_ms,
        window_seconds=config.dedupe_window_seconds,
        insert_id_scope=insert_id_scope(
            signed=session.signed is not None,
            anonymous=session.anonymous,
            visitor_id=session.visitor_id,
            since_ms=config.insert_id_scoped_since_ms,
        ),
    )
    unique: dict[str, EventRecord] = {}
    for event in batch.events:  # the same event twice in one batch is stored once
        unique.setdefault(event.dedupe_key, EventRecord(event.dedupe_key, event.payload, event.timestamp_ms))
    store = data_store()
    outcome = store.put_events(session, list(unique.values()), batch_id=batch.batch_id, received_ms=now_ms)
    visible = outcome.stored + outcome.earlier_attempt
    if visible:
        store.put_receipt(session, batch_id=batch.batch_id, keys=visible, received_ms=now_ms)
    duplicates = len(batch.events) - len(outcome.stored)
    counts = {
        "accepted": len(outcome.stored),
        "duplicates": duplicates,
        # Coverage rides on the outcome counters' write: no write of its own on this path.
        counter_name("e", session.signed or "unsigned", session.key_name, session.kid): len(outcome.stored),
    }
    for rejection in batch.rejected:
        counts[f"rejected_{rejection.code}"] = counts.get(f"rejected_{rejection.code}", 0) + 1
    tenancy.count_request(app_id, "sdk", counts)
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=len(outcome.stored))
    metrics.add_metric(name="EventsDuplicate", unit=MetricUnit.Count, value=duplicates)
    metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=len(batch.rejected))
    metrics.add_metric(name="EventWriteUnits", unit=MetricUnit.Count, value=outcome.write_units)
    return {
        "accepted": len(outcome.stored),
        "duplicates": duplicates,
        "rejected": [rejection.to_json() for rejection in batch.rejected],
    }


def _recheck(session: SessionRecord, view: AppView) -> None:
    recheck(
        session.signed,
        session.key_name,
        session.kid,
        view.settings,
        KeyDirectory(view),
        jwks_keys(),
        # A session of a subject suppressed since it started (its erasure is on its way) stops too.
        suppressed=suppressed(session.app_id, visitor_id=session.visitor_id, account_id=session.account_id),
    )


def _live_session(app_id: str, session_id: str, *, cached: bool) -> SessionRecord:
    """The session if it exists for this application and has not ended (else 404)."""
    if not session_id.startswith(SESSION_ID_PREFIX) or len(session_id) > _MAX_SESSION_ID_CHARS:
        raise ApiError("session_not_found")
    if not possible_app_id(app_id):
        raise ApiError("session_not_found")
    store = data_store()
    if cached:
        session = _sessions().get_or_load((app_id, session_id), lambda: store.get_session(app_id, session_id))
    else:
        session = store.get_session(app_id, session_id)
    if session is None or session.expires_at <= time.time():
        raise ApiError("session_not_found")
    # A session of an erased subject is gone (SPEC 9), even from a warm container's cache; one
    # whose subject is also suppressed is left to the acceptance table, which drops it (counted).
    subject = {"visitor_id": session.visitor_id, "account_id": session.account_id}
    if session_erased(app_id, started_ms=session.created_ms, **subject) and not suppressed(app_id, **subject):
        raise ApiError("session_not_found")
    return session


@contextmanager
def _counting_drops(
    app_id: str, route: str, credentials: Credentials | None, *, session: SessionRecord | None = None, events: int = 0
) -> Iterator[None]:
    """Count and keep a drop raised inside the block, then let it answer the request.

    The drop record names the key: the request's credentials' (a session start or update), or the
    session's (an events batch)."""
    try:
        yield
    except ApiError as error:
        if not error.is_drop:
            raise
        drop: dict[str, Any] = {
            "reason": error.code,
            "route": route,
            "at": clock.now_iso(microseconds=True),
            **(credential_labels(credentials) if credentials is not None else {}),
        }
        if session is not None:
            drop.update({key: value for key, value in (("keyName", session.key_name), ("kid", session.kid)) if value})
            drop["events"] = events
        counter = {f"dropped_{error.code}": max(events, 1)}
        # Counted for diagnostics, not as a request: a refused request spends no rate budget.
        _best_effort(lambda: tenancy.add_outcomes(app_id, counter))
        _best_effort(lambda: data_store().record_drop(app_id, drop, at_ms=int(time.time() * 1000)))
        metrics.add_metric(name="RequestsDropped", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="EventsDropped", unit=MetricUnit.Count, value=events)
        logger.info("dropped", extra={"app_id": app_id, "reason": error.code, "route": route})
        raise


def _best_effort(write: Callable[[], T]) -> None:
    # Diagnostics must not turn a drop answer into a 503: the drop is the answer.
    try:
        write()
    except ApiError:
        logger.warning("could not record a drop for diagnostics")


def _session_json(session: SessionRecord) -> dict[str, Any]:
    return {
        "sessionId": session.session_id,
        "visitorId": session.visitor_id,
        "accountId": session.account_id,
        "signed": session.signed,
        "expiresAt": clock.iso(session.expires_at),
    }


@lru_cache(maxsize=1)
def _sessions() -> TtlCache[SessionRecord | None]:
    # Sessions only change by metadata updates (which refresh this cache) and never change ids
    # or verification, so the events path can skip re-reading them for the settings bound.
    return TtlCache(get_config().cache_ttl_seconds, max_entries=10_000)


container.on_reset(_sessions.cache_clear)
