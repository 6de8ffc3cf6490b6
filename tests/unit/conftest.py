"""Unit tests run against moto's in-process `mock_aws` (see tests/support/world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.world import World, mocked_world


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mocked_world(monkeypatch) as mocked:
        yield mocked
