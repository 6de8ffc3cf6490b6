"""AWS clients made once per container, and the one place AWS failures become 503s."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from countersign import container
from countersign.errors import DependencyUnavailable

logger = Logger(child=True)

# Conditional-write outcomes are answers, not failures: callers handle them.
EXPECTED_ERROR_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})


@cache
def client(service: str) -> Any:
    """A boto3 client for `service`, created on first use and reused while the container is warm.

    AWS_ENDPOINT_URL (set by the local stack) points every client at moto server; on Lambda it is
    unset. Short timeouts and few retries keep a failing dependency from eating the function
    timeout: the caller answers 503 and the SDK retries the whole request.
    """
    import boto3
    from botocore.config import Config

    made = boto3.client(  # type: ignore[call-overload]
        service,
        config=Config(
            connect_timeout=2,
            read_timeout=5,
            retries={"mode": "standard", "max_attempts": 3},
            max_pool_connections=64,
        ),
    )
    # botocore builds a client's error classes on first use, unguarded: two threads failing at once
    # (the event writers' conditional puts of a retried batch) could each build their own, and
    # `except client.exceptions.X` then missed the other's error: a 500. Built here, before any
    # thread shares the client.
    _ = made.exceptions
    return made


@contextmanager
def calling(dependency: str) -> Iterator[None]:
    """Turn an unexpected failure of `dependency` (throttling, outage, timeout) into a 503."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in EXPECTED_ERROR_CODES:
            raise
        logger.warning("dependency failed", extra={"dependency": dependency, "error_code": code})
        raise DependencyUnavailable(dependency) from error
    except BotoCoreError as error:
        logger.warning("dependency failed", extra={"dependency": dependency, "error_type": type(error).__name__})
        raise DependencyUnavailable(dependency) from error


container.on_reset(client.cache_clear)
