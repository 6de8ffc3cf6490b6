"""JWKS function: test and save an application's JWKS URI for RS256-signed metadata (SPEC 3.2).

The rules (and the logging of each outcome) live in `countersign.jwks_uri`; this file maps routes.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import jwks_uri
from countersign import openapi_schemas as doc
from countersign.api import ADMIN_BODY_LIMIT, json_body, make_resolver
from countersign.observability import logger, metrics

app = make_resolver(admin=True, max_body_bytes=ADMIN_BODY_LIMIT)


@app.post(
    "/v1/apps/<appId>/jwks-uri/test",
    summary="Fetch a JWKS URI and report its usable RS256 keys",
    **doc.admin_route(ok=(200, doc.JWKS_REPORT), errors=(400, 413, 422), body=doc.JWKS_URI),
)
def test_jwks_uri(appId: str) -> dict[str, Any]:
    return jwks_uri.run_uri_test(appId, json_body(app))


@app.put(
    "/v1/apps/<appId>/jwks-uri",
    summary="Save a JWKS URI that passed its test within 15 minutes",
    **doc.admin_route(ok=(200, doc.SETTINGS), errors=(400, 409, 413, 422), body=doc.JWKS_URI),
)
def save_jwks_uri(appId: str) -> dict[str, Any]:
    return jwks_uri.save_uri(appId, json_body(app)).to_json()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
