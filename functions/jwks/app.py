"""JWKS function: test and save an application's JWKS URI for RS256-signed metadata (SPEC 3.2).

The rules live in `countersign.jwks_uri`; this file maps routes to them and records outcomes.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import jwks_uri
from countersign import openapi_schemas as doc
from countersign.api import ADMIN_BODY_LIMIT, handle, json_body, logger, make_resolver, metrics, tracer
from countersign.errors import ApiError

app = make_resolver(admin=True)


@app.post(
    "/v1/apps/<appId>/jwks-uri/test",
    summary="Fetch a JWKS URI and report its usable RS256 keys",
    **doc.admin_route(ok=(200, doc.JWKS_REPORT), errors=(400, 413, 422), body=doc.JWKS_URI),
)
def test_jwks_uri(appId: str) -> dict[str, Any]:
    body = json_body(app)
    try:
        report = jwks_uri.run_uri_test(appId, body)
    except ApiError as error:
        if error.status == 422:  # the URI failed; other errors (400, 503) are not test outcomes
            _outcome("test", body, error.code, metric="JwksUriTestFailed")
        raise
    _outcome("test", body, "ok", metric="JwksUriTested")
    return report


@app.put(
    "/v1/apps/<appId>/jwks-uri",
    summary="Save a JWKS URI that passed its test within 15 minutes",
    **doc.admin_route(ok=(200, doc.SETTINGS), errors=(400, 409, 413, 422), body=doc.JWKS_URI),
)
def save_jwks_uri(appId: str) -> dict[str, Any]:
    body = json_body(app)
    try:
        saved = jwks_uri.save_uri(appId, body)
    except ApiError as error:
        if error.status in (409, 422):
            _outcome("save", body, error.code)
        raise
    _outcome("save", body, "ok", metric="JwksUriSaved")
    return saved.to_json()


def _outcome(action: str, body: dict[str, Any], code: str, *, metric: str | None = None) -> None:
    # app_id and the correlation id are on every log line already; of the URI, only its host.
    logger.info("jwks uri " + action, extra={"action": action, "uri_host": jwks_uri.host_for_logs(body), "code": code})
    if metric:
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context, max_body_bytes=ADMIN_BODY_LIMIT)
