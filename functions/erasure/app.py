"""Erasure function: on a schedule, carry out the queued erasures everywhere, with proof (SPEC 9).

The steps and their order live in `countersign.erasure_run`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import erasure_run
from countersign.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return erasure_run.run_queue(context.get_remaining_time_in_millis).to_json()
