"""Ingest function: the public SDK routes (SPEC 3.3) — sessions, metadata updates, events.

Each body is read once here into a typed value (`countersign.sdk_requests`); the rules live in
`countersign.ingest`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import ingest
from countersign import openapi_schemas as doc
from countersign.api import INGEST_BODY_LIMIT, json_body, json_response, make_resolver
from countersign.observability import logger, metrics
from countersign.sdk_requests import Credentials, EventsRequest
from countersign.strict_json import SDK_BODY_DEPTH_GUARD

app = make_resolver(admin=False, max_body_bytes=INGEST_BODY_LIMIT)


@app.post(
    "/v1/apps/<appId>/sessions",
    summary="Start a session (initialize / startSession)",
    **doc.sdk_route(ok=(201, doc.SESSION), errors=(400, 401, 403, 404, 413), body=doc.CREDENTIALS),
)
def start_session(appId: str) -> Response[str]:
    return json_response(201, ingest.start_session(appId, Credentials.from_body(json_body(app))))


@app.patch(
    "/v1/apps/<appId>/sessions/<sessionId>",
    summary="Update visitor or account metadata",
    **doc.sdk_route(ok=(200, doc.SESSION), errors=(400, 401, 403, 404, 409, 413), body=doc.CREDENTIALS),
)
def update_session(appId: str, sessionId: str) -> dict[str, Any]:
    return ingest.update_session(appId, sessionId, Credentials.from_body(json_body(app)))


@app.post(
    "/v1/apps/<appId>/events",
    summary="Send a batch of events on a session",
    **doc.sdk_route(ok=(200, doc.EVENTS_ANSWER), errors=(400, 401, 403, 404, 413), body=doc.EVENTS),
)
def send_events(appId: str) -> dict[str, Any]:
    # Each event's depth is its own rule (rejected alone); the body only has a guard far above it.
    return ingest.accept_events(appId, EventsRequest.from_body(json_body(app, max_depth=SDK_BODY_DEPTH_GUARD)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
