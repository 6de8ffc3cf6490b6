"""Export function: DataTable's stream (new images) -> the S3 data lake, exactly once (SPEC 6).

The event source mapping (template.yaml) passes only inserted events and inserted or modified
sessions, and asks for partial batch responses: what failed is retried from its first record on.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import export
from countersign.observability import logger, metrics
from countersign.store.lake_objects import lake_objects


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return export.deliver(event.get("Records") or [], lake_objects())
