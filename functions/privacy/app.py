"""Privacy function: erase a visitor or an account everywhere, follow the erasure, lift suppressions (SPEC 9).

The rules live in `countersign.erasures`; the erasure itself runs in the scheduled erasure function.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import erasures
from countersign import openapi_schemas as doc
from countersign.api import ADMIN_BODY_LIMIT, json_body, json_response, make_resolver, path_param
from countersign.observability import logger, metrics

app = make_resolver(admin=True, max_body_bytes=ADMIN_BODY_LIMIT)


@app.post(
    "/v1/apps/<appId>/erasures",
    summary="Erase a visitor's or an account's data everywhere (202), or see the one already under way (200)",
    **doc.admin_route(ok=(202, doc.ERASURE), errors=(400, 413), body=doc.ERASURE_CREATE),
)
def request_erasure(appId: str) -> Response[str]:
    return json_response(*erasures.request_erasure(appId, json_body(app)))


@app.get(
    "/v1/apps/<appId>/erasures",
    summary="Erasures, newest first, with their progress and proof",
    **doc.admin_route(ok=(200, doc.ERASURE_LIST), errors=()),
)
def list_erasures(appId: str) -> dict[str, Any]:
    return erasures.list_erasures(appId)


@app.get(
    "/v1/apps/<appId>/erasures/<erasureId>",
    summary="One erasure: status, deadline and, per store, what was removed and what remains",
    **doc.admin_route(ok=(200, doc.ERASURE), errors=(404,)),
)
def show_erasure(appId: str, erasureId: str) -> dict[str, Any]:
    return erasures.show_erasure(appId, erasureId)


@app.get(
    "/v1/apps/<appId>/suppressions",
    summary="Subjects whose new data is refused (subject_suppressed), never their ids",
    **doc.admin_route(ok=(200, doc.SUPPRESSIONS), errors=()),
)
def list_suppressions(appId: str) -> dict[str, Any]:
    return erasures.list_suppressions(appId)


@app.delete(
    "/v1/apps/<appId>/suppressions/<kind>/<subjectId>",
    summary="Lift a suppression: the subject's new data is accepted again (204)",
    **doc.admin_route(ok=(204, doc.NO_CONTENT), errors=(404,)),
)
def lift_suppression(appId: str, kind: str, subjectId: str) -> Response[str]:
    erasures.lift_suppression(appId, kind, path_param(app, "subjectId", subjectId))
    return Response(status_code=204, body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
