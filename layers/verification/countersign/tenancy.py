"""Per-application rate limits (SPEC 4, "Tenancy under load"): one application's burst is answered
429 with Retry-After, and every other application's requests go on as before.

    request -> door closed for (app, family) this second?  -> 429, no AWS call at all
            -> the route runs -> its counter write returns the app's requests this second
            -> at or over the limit: close the door in this container until the second ends

Counting costs nothing extra on the events path: the counter UpdateItem an events batch makes
anyway also counts the request in the application's one-second window, over every container
(`CounterStore.add_counts`). Requests that make no counter write of their own (sessions, admin
routes, refusals) make it here, once. A container learns its application is over the limit from
its own write, so a second admits at most `limit + containers - 1` requests of one application;
every further request of that second costs no AWS call. docs/cost-and-scale.md has the arithmetic.

Limits: the template's stack-wide defaults per family (`sdk`: the SDK routes, `admin`: the admin
routes, counted after authorization), or the operator's override for one application (`countersign
apps limits`), cached like settings (CACHE_TTL_SECONDS).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit

from countersign import container
from countersign.config import get_config
from countersign.errors import ApiError
from countersign.observability import metrics
from countersign.store.control import control_store
from countersign.store.counters import counter_store
from countersign.ttl_cache import TtlCache

logger = Logger(child=True)


@dataclass
class _Request:
    app_id: str
    family: str
    counted: bool = False


_current: ContextVar[_Request | None] = ContextVar("countersign_rate_request", default=None)
_closed: dict[tuple[str, str], int] = {}  # (appId, family) -> the second its door is closed for
_closed_lock = threading.Lock()


@contextmanager
def limited(app_id: str, family: str) -> Iterator[None]:
    """Run one request of `app_id` under its `family` limit: 429 at once if this second's door is
    closed, else count the request (at most one counter write) and close the door at the limit."""
    if _closed.get((app_id, family)) == int(time.time()):
        metrics.add_metric(name="RequestsRateLimited", unit=MetricUnit.Count, value=1)
        raise ApiError("rate_limited")
    request = _Request(app_id, family)
    token = _current.set(request)
    try:
        yield
    except ApiError as error:
        # A dependency failure (5xx) is not the application's doing; an unknown app has no budget.
        if not request.counted and error.status < 500 and _app_exists(app_id, family):
            _count_best_effort(app_id, family)
        raise
    else:
        if not request.counted:
            _count_best_effort(app_id, family)
    finally:
        _current.reset(token)


def add_counts(app_id: str, counts: dict[str, int]) -> None:
    """The request's counter write (outcome counters), which also counts it in its rate window."""
    request = _current.get()
    family = request.family if request else "sdk"
    observe(app_id, family, counter_store().add_counts(app_id, counts, family=family))
    if request is not None and request.app_id == app_id:
        request.counted = True


def observe(app_id: str, family: str, requests_this_second: int, *, now: float | None = None) -> None:
    """Close the application's door in this container when this second's count reached its limit."""
    if requests_this_second < limit(app_id, family):
        return
    second = int(time.time() if now is None else now)
    with _closed_lock:
        if _closed.get((app_id, family)) != second:
            logger.info("rate limit reached", extra={"app_id": app_id, "family": family})
        for key in [key for key, closed in _closed.items() if closed < second]:
            del _closed[key]  # doors of past seconds are open again
        _closed[(app_id, family)] = second


def limit(app_id: str, family: str) -> int:
    """Requests per second `app_id` may make on `family` routes: its override, else the default."""
    overrides = _overrides().get_or_load(app_id, lambda: control_store().get_limits(app_id))
    if family in overrides:
        return overrides[family]
    config = get_config()
    return config.sdk_requests_per_second if family == "sdk" else config.admin_requests_per_second


def _count_best_effort(app_id: str, family: str) -> None:
    try:
        add_counts(app_id, {})
    except ApiError:
        logger.warning("could not count a request for its rate limit")


def _app_exists(app_id: str, family: str) -> bool:
    if family == "admin":
        return True  # authorization proved it
    from countersign.app_view import current_view

    try:
        current_view(app_id)
    except ApiError:
        return False
    return True


@lru_cache(maxsize=1)
def _overrides() -> TtlCache[dict[str, int]]:
    return TtlCache(get_config().cache_ttl_seconds)


def _reset() -> None:
    _overrides.cache_clear()
    with _closed_lock:
        _closed.clear()


container.on_reset(_reset)
