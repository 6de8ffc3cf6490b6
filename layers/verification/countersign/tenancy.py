"""Per-application rate limits (SPEC 4, "Tenancy under load"): one application's burst is answered
429 with Retry-After, and every other application's requests go on as before.

    request -> this client's share used up, or the app's door closed this second? -> 429, no AWS call
            -> the route runs -> a verified request's counter write returns the app's requests
               this second -> at or over the limit: close the door in this container until it ends

What counts, explicitly at each call site (no hidden hand-off):
- SDK routes count only verified traffic: the ingest path calls `count_request` with the counter
  write it makes anyway (session start, events batch) or one of its own (metadata update). A
  request refused before or at verification (bad JSON, unknown session, a drop) spends nothing of
  the application's budget, so strangers naming a public appId cannot throttle it; a drop's
  diagnostics counters are written by `add_outcomes`, outside the rate window.
- Admin routes count every request once authorized (`count_request` from the resolver's
  middleware, after the route); a stranger's requests are refused before they count.
- Unauthenticated cost: a source address whose well-formed admin tokens owned nothing
  REFUSALS_PER_CLIENT times this second gets 429 before any further token lookup
  (`admit_client`, `note_refusal`); unknown admin tokens are also cached briefly (`api`), and
  unknown application ids are cached like settings (`app_view`). A random SDK application id
  still costs one read per container and cache bound; the stage throttle and the optional WAF
  rule bound those.
- A per-client share: one source address may make at most `client_share(limit)` SDK requests of
  one application per second in one container (a quarter of the limit, at least
  CLIENT_SHARE_FLOOR), verified or not, kept in memory at no AWS cost. So one client cannot take
  an application's whole budget; a client spread over K warm containers gets at most K shares
  (the optional WAF rule, `WebAcl=create`, bounds a source address stack-wide).

A container learns its application is over the limit from its own write, so a second admits at
most `limit + containers - 1` verified requests of one application; every further request of that
second costs no AWS call. docs/cost-and-scale.md has the arithmetic.

Limits: the template's stack-wide defaults per family (`sdk`: the SDK routes, `admin`: the admin
routes), or the operator's override for one application (`countersign apps limits`), cached like
settings (CACHE_TTL_SECONDS).
"""

from __future__ import annotations

import math
import threading
import time
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

#: One client's share of an application's per-second SDK limit, in one container.
CLIENT_SHARE = 0.25
#: The least share a client gets, so a small limit stays one client's to use.
CLIENT_SHARE_FLOOR = 10
#: Admin token lookups that found nothing one source address may cause per second in one
#: container; past them its admin requests get 429 before any further lookup.
REFUSALS_PER_CLIENT = 20
#: Clients remembered at once per container before past seconds are forgotten.
_MAX_CLIENTS = 10_000

_closed: dict[tuple[str, str], int] = {}  # (appId, family) -> the second its door is closed for
_closed_lock = threading.Lock()
_clients: dict[tuple[str, str], tuple[int, int]] = {}  # (appId, source address) -> (second, requests)
_clients_lock = threading.Lock()
_refusals: dict[str, tuple[int, int]] = {}  # source address -> (second, refusals)


def admit(app_id: str, family: str, *, client: str | None = None) -> None:
    """429 at once if `app_id`'s door for `family` is closed this second, or if `client` (the
    source address of an SDK request) used up its share of the application this second here."""
    second = int(time.time())
    if _closed.get((app_id, family)) == second:
        _refuse()
    if client is not None and not _within_client_share(app_id, client, second):
        _refuse()


def admit_client(client: str | None) -> None:
    """429 at once if `client` collected REFUSALS_PER_CLIENT refusals this second here: random
    admin tokens cost one lookup each (unknown ones are cached briefly), and this bounds them."""
    if client is None:
        return
    second, refusals = _refusals.get(client, (0, 0))
    if second == int(time.time()) and refusals >= REFUSALS_PER_CLIENT:
        _refuse()


def note_refusal(client: str | None) -> None:
    """Count one refusal of `client` this second (see `admit_client`)."""
    if client is None:
        return
    now = int(time.time())
    with _clients_lock:
        second, refusals = _refusals.get(client, (now, 0))
        if len(_refusals) >= _MAX_CLIENTS:
            for key in [key for key, (at, _) in _refusals.items() if at < now]:
                del _refusals[key]
        _refusals[client] = (now, refusals + 1 if second == now else 1)


def count_request(app_id: str, family: str, counts: dict[str, int], *, best_effort: bool = False) -> None:
    """Write `counts` and count this request in the application's `family` window (one UpdateItem);
    close the door here when the window reached the limit. With `best_effort`, a failing write is
    logged instead of failing the request (the request has succeeded already)."""
    try:
        observe(app_id, family, counter_store().add_counts(app_id, counts, family=family))
    except ApiError:
        if not best_effort:
            raise
        logger.warning("could not count a request for its rate limit")


def add_outcomes(app_id: str, counts: dict[str, int]) -> None:
    """Write `counts` (a drop's diagnostics) without counting a request in any rate window."""
    counter_store().add_outcomes(app_id, counts)


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


def client_share(app_limit: int) -> int:
    """SDK requests per second one client may make of an application whose limit is `app_limit`."""
    return max(CLIENT_SHARE_FLOOR, math.ceil(app_limit * CLIENT_SHARE))


def _within_client_share(app_id: str, client: str, second: int) -> bool:
    with _clients_lock:
        seen_second, requests = _clients.get((app_id, client), (second, 0))
        if seen_second != second:
            requests = 0
        if requests >= CLIENT_SHARE_FLOOR and requests >= client_share(limit(app_id, "sdk")):
            return False  # the limit is read (cached) only once a client is past the floor
        if len(_clients) >= _MAX_CLIENTS:
            for key in [key for key, (at, _) in _clients.items() if at < second]:
                del _clients[key]
        _clients[(app_id, client)] = (second, requests + 1)
        return True


def _refuse() -> None:
    metrics.add_metric(name="RequestsRateLimited", unit=MetricUnit.Count, value=1)
    raise ApiError("rate_limited")


@lru_cache(maxsize=1)
def _overrides() -> TtlCache[dict[str, int]]:
    return TtlCache(get_config().cache_ttl_seconds)


def _reset() -> None:
    _overrides.cache_clear()
    with _closed_lock:
        _closed.clear()
    with _clients_lock:
        _clients.clear()
        _refusals.clear()


container.on_reset(_reset)
