"""The container's AWS clients (countersign.aws) are safe to share between threads from the start."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.errorfactory import ClientExceptionsFactory

from countersign import aws, container
from tests.support.world import World


def test_a_clients_error_classes_exist_before_two_threads_fail_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retried batch's conditional puts all fail at once on the event writers' threads. Had each
    thread built the client's error classes itself (botocore does so on first use, unguarded), one
    `except client.exceptions.ConditionalCheckFailedException` would miss the other's: a 500."""
    build = ClientExceptionsFactory._create_client_exceptions

    def slowly(factory: Any, model: Any) -> Any:
        time.sleep(0.05)  # the window between botocore's cache check and its store, held open
        return build(factory, model)

    monkeypatch.setattr(ClientExceptionsFactory, "_create_client_exceptions", slowly)
    container.reset()
    client = aws.client("dynamodb")
    with ThreadPoolExecutor(max_workers=2) as pool:
        seen = list(pool.map(lambda _: client.exceptions.ConditionalCheckFailedException, range(2)))
    assert seen[0] is seen[1] is client.exceptions.ConditionalCheckFailedException
