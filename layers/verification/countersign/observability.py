"""The function's logger, metrics and tracer: one set per Lambda function, flushed by its handler.

Domain modules log their audit lines and count their outcomes here, so they need nothing of the
HTTP layer; the handler's decorators (`functions/*/app.py`) flush the set after each invocation.
"""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# The template sets the namespace; the default keeps metrics valid whatever imports this first.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Countersign"))
# Not auto_patch: patching every library X-Ray knows imports botocore and requests at import time.
# `aws.client` patches botocore and http.client with the container's first client instead.
tracer = Tracer(auto_patch=False)

# Requests that only answer (no business metric) are normal; the cold-start metric still flushes.
warnings.filterwarnings("ignore", message="No application metrics to publish")
