"""Export function: DataTable's stream (new images) -> the S3 data lake, exactly once (SPEC 6).

The event source mapping (template.yaml) passes only inserted events and inserted or modified
sessions, and asks for partial batch responses: what failed is retried from its first record on.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign.api import logger, metrics, tracer
from countersign.export import export_batch
from countersign.store.lake_objects import lake_objects


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    outcome = export_batch(records, lake_objects())
    metrics.add_metric(name="LakeLinesWritten", unit=MetricUnit.Count, value=outcome.lines_written)
    metrics.add_metric(name="LakeLinesAlreadyExported", unit=MetricUnit.Count, value=outcome.already_exported)
    metrics.add_metric(name="LakeObjectsWritten", unit=MetricUnit.Count, value=len(outcome.written))
    logger.info(
        "batch exported" if outcome.retry_from is None else "batch partly exported: retry",
        extra={
            "records": len(records),
            "objects": outcome.written,
            "already_exported": outcome.already_exported,
            "retry_from": outcome.retry_from,
        },
    )
    return outcome.batch_item_failures()
