"""Tables function: keeps the Iceberg tables of SPEC 6.2 on its schedules (template.yaml).

    {"task": "fold"}       every TableCommitMinutes: new landing objects into the tables
    {"task": "maintain"}   hourly: compaction, snapshot expiry, unreferenced files, landing retention

Its reserved concurrency is 1: one writer at a time (commits refuse a concurrent one anyway). The
hourly reconcile (SPEC 6.3) only reads: it is the reconcile function's, so it never holds a fold back.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign.observability import logger, metrics
from countersign.tables import tasks


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return tasks.run(str(event.get("task", "")), context.get_remaining_time_in_millis)
