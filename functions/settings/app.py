"""Settings function: read and toggle an application's acceptance settings (SPEC 3.1).

The rules live in `countersign.settings`, the read-change-write in `countersign.settings_changes`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import openapi_schemas as doc
from countersign import settings_changes
from countersign.api import ADMIN_BODY_LIMIT, json_body, make_resolver
from countersign.observability import logger, metrics

app = make_resolver(admin=True, max_body_bytes=ADMIN_BODY_LIMIT)


@app.get(
    "/v1/apps/<appId>/settings",
    summary="Read the acceptance settings",
    **doc.admin_route(ok=(200, doc.SETTINGS), errors=()),
)
def get_settings(appId: str) -> dict[str, Any]:
    return settings_changes.current_settings(appId)


@app.patch(
    "/v1/apps/<appId>/settings",
    summary="Change the acceptance toggles, or preview the change and what it would drop (dryRun)",
    **doc.admin_route(ok=(200, doc.SETTINGS_CHANGE), errors=(400, 409, 413), body=doc.SETTINGS_PATCH),
)
def patch_settings(appId: str) -> dict[str, Any]:
    return settings_changes.change_settings(appId, json_body(app))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
