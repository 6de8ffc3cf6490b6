"""Testing and saving an application's JWKS URI (SPEC 3.2): every rule of both routes, in one place.

- The body is `{"uri": "..."}` and nothing else (another member is 400 `invalid_request`). A
  missing, null or blank `uri` is 422 `jwks_uri_empty`; a value that is not a string is 422
  `jwks_uri_invalid`. The URI is used exactly as given: no trimming, no normalisation.
- `test` fetches the URI under the address policy (`countersign.jwks.address_policy`, checks in
  `countersign.netguard`) and reports its usable RS256 keys (`countersign.jwks.parse_jwk_set`).
  A failure is 422 with exactly one of `jwks_uri_empty`, `jwks_uri_invalid`,
  `jwks_uri_unreachable`, `jwks_document_invalid`, and a `detail` naming the failed requirement.
  Testing needs no setting on: a customer may check an endpoint before turning RS256 on.
- A successful test is recorded per application and exact URI string (`store.jwks_uri_passes`); a
  failed test of a URI forgets that URI's earlier success, so the latest test is the one that
  counts.
- `save` checks, in this order: the body, the URI text against the address policy again (cheap, no
  fetch: a test made before a policy change cannot be used to save afterwards), then against the
  settings it is applied to: `useRs256SignedMetadata` on (409 `rs256_disabled`),
  `onlyAllowSignedMetadata` off (409 `only_signed_metadata_enabled`), and a successful test of this
  exact string for this application within the last `TEST_VALIDITY` (409 `jwks_uri_not_tested`).
  The settings are written conditionally on `version` (`ControlStore.update_settings`).
- A save does not consume the test. Within the 15 minutes a repeated PUT (a retry after a lost
  answer) gets the same 200, and a URI removed by turning RS256 off can be saved again after RS256
  is turned back on. Any other string (an edit) needs its own test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from aws_lambda_powertools.metrics import MetricUnit

from countersign import clock, netguard
from countersign.errors import ApiError
from countersign.jwks import KeyReport, address_policy, parse_jwk_set
from countersign.netguard import AddressPolicy, CheckedUri
from countersign.observability import logger, metrics  # the function's own: outcomes are its audit lines
from countersign.settings import Settings, with_jwks_uri
from countersign.store.control import control_store
from countersign.store.jwks_uri_passes import jwks_uri_passes

#: How long a successful test allows saving the same URI.
TEST_VALIDITY: Final = timedelta(minutes=15)

_BODY_FIELDS = frozenset({"uri"})
_MAX_LOGGED_HOST_CHARS = 253


def run_uri_test(app_id: str, body: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """POST /jwks-uri/test: fetch and check the URI, record the success, return the report.

    Answer: `{"valid": true, "uri", "keys": [{"kid", "kty", "alg", "bits"}], "testedAt"}`.
    """
    with _outcome_logged("test", body, outcomes=(422,), ok_metric="JwksUriTested", fail_metric="JwksUriTestFailed"):
        return _run_uri_test(app_id, body, now=now or clock.now())


def _run_uri_test(app_id: str, body: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    policy = address_policy()
    checked = _checked_uri(body, policy)
    store = jwks_uri_passes()
    try:
        keys: list[KeyReport] = parse_jwk_set(netguard.fetch(checked.uri, policy)).report()
    except ApiError:
        store.forget(app_id, checked.uri)
        raise
    store.record_success(app_id, checked.uri, tested_at=now, expires_at=now + TEST_VALIDITY)
    return {"valid": True, "uri": checked.uri, "keys": keys, "testedAt": clock.iso(now)}


def save_uri(app_id: str, body: dict[str, Any], *, now: datetime | None = None) -> Settings:
    """PUT /jwks-uri: save a URI that passed `test` for this application within `TEST_VALIDITY`."""
    with _outcome_logged("save", body, outcomes=(409, 422), ok_metric="JwksUriSaved", fail_metric=None):
        return _save_uri(app_id, body, now=now or clock.now())


def _save_uri(app_id: str, body: dict[str, Any], *, now: datetime) -> Settings:
    checked = _checked_uri(body, address_policy())
    tested_at = jwks_uri_passes().last_success(app_id, checked.uri)

    def change(current: Settings) -> Settings:
        # The settings rules come first: "turn RS256 on" is the first thing to fix.
        updated = with_jwks_uri(current, checked.uri, now=clock.iso(now))
        require_recent_test(tested_at, now=now)
        return updated

    return control_store().update_settings(app_id, change)


def require_recent_test(tested_at: datetime | None, *, now: datetime) -> None:
    """Raise 409 `jwks_uri_not_tested` unless the URI passed `test` within the last `TEST_VALIDITY`."""
    if tested_at is None:
        raise ApiError(
            "jwks_uri_not_tested",
            detail="This exact URI has no successful test for this application (or its latest test failed).",
        )
    if now - tested_at > TEST_VALIDITY:
        minutes = int(TEST_VALIDITY.total_seconds() // 60)
        raise ApiError(
            "jwks_uri_not_tested",
            detail=f"This URI last passed its test at {clock.iso(tested_at)}, more than {minutes} minutes ago.",
        )


def host_for_logs(body: dict[str, Any]) -> str | None:
    """The host of the body's URI, as far as it can be read, for log lines.

    Only the host: a path could carry something private, and userinfo (refused anyway) a password.
    """
    uri = body.get("uri")
    if not isinstance(uri, str):
        return None
    try:
        host = urlsplit(uri).hostname
    except ValueError:
        return None
    return host[:_MAX_LOGGED_HOST_CHARS] if host else None


@contextmanager
def _outcome_logged(
    action: str, body: dict[str, Any], *, outcomes: tuple[int, ...], ok_metric: str, fail_metric: str | None
) -> Iterator[None]:
    """Log and count a test or save outcome; other errors (400, 503) are not outcomes of the URI."""
    try:
        yield
    except ApiError as error:
        if error.status in outcomes:
            _record_outcome(action, body, error.code, fail_metric)
        raise
    _record_outcome(action, body, "ok", ok_metric)


def _record_outcome(action: str, body: dict[str, Any], code: str, metric: str | None) -> None:
    # app_id and the correlation id are on every log line already; of the URI, only its host.
    logger.info("jwks uri " + action, extra={"action": action, "uri_host": host_for_logs(body), "code": code})
    if metric:
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


def _checked_uri(body: dict[str, Any], policy: AddressPolicy) -> CheckedUri:
    unknown = sorted(set(body) - _BODY_FIELDS)
    if unknown:
        raise ApiError("invalid_request", f'Unknown field(s): {", ".join(unknown)}. The body is {{"uri": "..."}}.')
    return netguard.check_uri(body.get("uri"), policy)
