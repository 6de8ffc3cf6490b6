"""Settings function: read and toggle an application's acceptance settings (SPEC 3.1)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import openapi_schemas as doc
from countersign.api import ADMIN_BODY_LIMIT, handle, json_body, logger, make_resolver, metrics, now_iso, tracer
from countersign.settings import Settings, apply_patch
from countersign.store.control import control_store

app = make_resolver(admin=True)


@app.get(
    "/v1/apps/<appId>/settings",
    summary="Read the acceptance settings",
    **doc.admin_route(ok=(200, doc.SETTINGS), errors=()),
)
def get_settings(appId: str) -> dict[str, Any]:
    return control_store().get_settings(appId).to_json()


@app.patch(
    "/v1/apps/<appId>/settings",
    summary="Change the acceptance toggles",
    **doc.admin_route(ok=(200, doc.SETTINGS), errors=(400, 409, 413), body=doc.SETTINGS_PATCH),
)
def patch_settings(appId: str) -> dict[str, Any]:
    patch = json_body(app)

    def change(current: Settings) -> Settings:
        return apply_patch(current, patch, now=now_iso())

    updated = control_store().update_settings(appId, change)
    # The toggles and version only: a saved JWKS URI's path is the customer's business.
    logger.info("settings changed", extra={"settings": {k: v for k, v in updated.to_json().items() if k != "jwksUri"}})
    return updated.to_json()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context, max_body_bytes=ADMIN_BODY_LIMIT)
