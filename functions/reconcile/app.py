"""Reconcile function: every hour, DataTable's accepted events against the `events` table (SPEC 6.3),
published as the TablesMissingEvents metric.

It only reads, so it runs apart from the tables function, the tables' one writer (reserved
concurrency 1): there, a long reconcile would hold back the fold and break SPEC 6.2's freshness.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign.observability import logger, metrics
from countersign.tables import completeness


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return completeness.publish_reconcile()
