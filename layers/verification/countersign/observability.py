"""The function's logger and metrics: one set per Lambda function, flushed by its handler.

Domain modules log their audit lines and count their outcomes here, so they need nothing of the
HTTP layer; the handler's decorators (`functions/*/app.py`) flush the set after each invocation.

Traces come from Lambda's active tracing (`Tracing: Active` in template.yaml), with no tracing SDK
in the function: the X-Ray SDK that Powertools' Tracer wraps reaches its end of support on
2027-02-25 and added about a sixth to a cold start; BENCHMARKS.md ("Tracing") has the comparison.
"""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
# The template sets the namespace; the default keeps metrics valid whatever imports this first.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Countersign"))

# Requests that only answer (no business metric) are normal; the cold-start metric still flushes.
warnings.filterwarnings("ignore", message="No application metrics to publish")
