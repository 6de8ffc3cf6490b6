"""Reporting function: what arrived, why anything was dropped, and how much is signed (raw events,
diagnostics, coverage)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import openapi_schemas as doc
from countersign import reporting
from countersign.api import ADMIN_BODY_LIMIT, make_resolver, query_param
from countersign.observability import logger, metrics

app = make_resolver(admin=True, max_body_bytes=ADMIN_BODY_LIMIT)


@app.get(
    "/v1/apps/<appId>/raw-events",
    summary="Newest accepted events and how each was verified",
    description=(
        "The newest events of the dedupe window, of one visitor only when `visitorId` is given, newest "
        "batch first. A visitor's events are found by an index of that visitor's batches, so other "
        "visitors' traffic never hides them and never adds to the cost of the query. An answer holds at most "
        "`limit` events and 5 MiB of them as sent (Lambda's response limit is 6 MB); `nextCursor`, when "
        "present, is the `cursor` that lists on."
    ),
    **doc.admin_route(ok=(200, doc.RAW_EVENTS), errors=(400,), query=doc.RAW_EVENTS_QUERY),
)
def raw_events(appId: str) -> dict[str, Any]:
    visitor_id, limit, cursor = (query_param(app, name) for name in ("visitorId", "limit", "cursor"))
    return reporting.raw_events(appId, visitor_id=visitor_id, limit=limit, cursor=cursor)


@app.get(
    "/v1/apps/<appId>/diagnostics",
    summary="Counts by outcome and drop reason, and the latest drops",
    **doc.admin_route(ok=(200, doc.DIAGNOSTICS), errors=()),
)
def diagnostics(appId: str) -> dict[str, Any]:
    return reporting.diagnostics(appId)


@app.get(
    "/v1/apps/<appId>/coverage",
    summary="Signed and unsigned traffic by mode, key and kid, and what enforcing would drop",
    **doc.admin_route(ok=(200, doc.COVERAGE), errors=(400,), query=doc.COVERAGE_QUERY),
)
def coverage(appId: str) -> dict[str, Any]:
    return reporting.coverage_report(appId, hours=query_param(app, "hours"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
