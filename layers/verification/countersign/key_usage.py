"""`lastUsedAt` of HS256 keys and RS256 kids (SPEC 3.5), without a write per request.

A session start or metadata update verified with a key notes its use here. A container writes a
key's last use at most once per UTC minute (the precision of `lastUsedAt`): the first use in a
minute claims it and writes; the others of that minute only find it claimed. Busy applications
therefore cost one small write per key per minute per warm container, whatever their traffic.

The write is a hint for admins, never part of the answer: if it fails, the request still
succeeds, the claim is given back and a later use tries again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime
from functools import lru_cache

from aws_lambda_powertools import Logger

from countersign import clock, container
from countersign.coverage import last_used_minute
from countersign.errors import ApiError
from countersign.store.counters import UsageKind, counter_store

logger = Logger(child=True)


class MinuteClaims:
    """Which (key, minute) this container has written: `claim` is true once per key and minute."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._minutes: OrderedDict[Hashable, int] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: Hashable, minute: int) -> bool:
        with self._lock:
            if self._minutes.get(key, -1) >= minute:
                return False
            self._minutes[key] = minute
            self._minutes.move_to_end(key)
            while len(self._minutes) > self.max_entries:
                self._minutes.popitem(last=False)
            return True

    def release(self, key: Hashable, minute: int) -> None:
        """Give back a claim whose write failed, unless a later minute claimed the key since."""
        with self._lock:
            if self._minutes.get(key) == minute:
                del self._minutes[key]


def note_use(app_id: str, *, key_name: str | None, kid: str | None, at: datetime) -> None:
    """Record that `key_name` (HS256) or `kid` (RS256) verified a request at `at`; no-op if neither."""
    used: tuple[UsageKind, str] | None = ("key", key_name) if key_name else ("kid", kid) if kid else None
    if used is None:
        return
    kind, name = used
    minute_ms = int(last_used_minute(at).timestamp() * 1000)
    claim = (app_id, kind, name)
    if not _claims().claim(claim, minute_ms):
        return
    try:
        counter_store().touch(app_id, kind, name, minute_ms=minute_ms)
    except ApiError:
        _claims().release(claim, minute_ms)
        logger.warning("could not record a key's last use", extra={"kind": kind})


def last_used_at(minute_ms: int | None, *, not_before_ms: int | None = None) -> str | None:
    """A stored last use as lastUsedAt (`2026-11-26T14:05:00Z`), or None if never used.

    The minute is rounded down, so a key used in the minute it was created would show a last use
    before its `createdAt` (`not_before_ms`): such a use is shown at the creation instead."""
    if minute_ms is None:
        return None
    return clock.iso(max(minute_ms, not_before_ms or 0) / 1000)


@lru_cache(maxsize=1)
def _claims() -> MinuteClaims:
    return MinuteClaims()


container.on_reset(_claims.cache_clear)
