"""Keys function: generate, list, reveal and revoke an application's HS256 signing keys (SPEC 3.1).

The rules live in `countersign.keys`; this file maps routes to them.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import keys
from countersign import openapi_schemas as doc
from countersign.api import ADMIN_BODY_LIMIT, json_body, json_response, make_resolver, optional_json_body
from countersign.observability import logger, metrics

app = make_resolver(admin=True, max_body_bytes=ADMIN_BODY_LIMIT)


@app.post(
    "/v1/apps/<appId>/keys",
    summary="Generate a signing key (its secret stays hidden until revealed)",
    **doc.admin_route(ok=(201, doc.KEY), errors=(400, 409, 413), body=doc.KEY_CREATE),
)
def generate_key(appId: str) -> Response[str]:
    return json_response(201, keys.generate_key(appId, json_body(app)))


@app.get(
    "/v1/apps/<appId>/keys",
    summary="List active and revoked keys (never secrets)",
    **doc.admin_route(ok=(200, doc.KEY_LIST), errors=()),
)
def list_keys(appId: str) -> dict[str, Any]:
    return keys.list_keys(appId)


@app.post(
    "/v1/apps/<appId>/keys/<keyName>/reveal",
    summary="Show an active key's secret",
    **doc.admin_route(ok=(200, doc.REVEALED_KEY), errors=(404, 409, 413, 500)),
)
def reveal_key(appId: str, keyName: str) -> Response[str]:
    revealed = keys.reveal_secret(appId, keyName)
    # A secret must not linger in a browser, proxy or CDN cache.
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(revealed),
        headers={"Cache-Control": "no-store"},
    )


@app.post(
    "/v1/apps/<appId>/keys/<keyName>/revoke",
    summary="Revoke a key permanently (with dryRun: what revoking it would drop, and nothing revoked)",
    **doc.admin_route(
        ok=(200, doc.KEY_REVOKE), errors=(404, 409, 413), body=doc.KEY_REVOKE_REQUEST, body_required=False
    ),
)
def revoke_key(appId: str, keyName: str) -> dict[str, Any]:
    return keys.revoke_key(appId, keyName, optional_json_body(app))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
