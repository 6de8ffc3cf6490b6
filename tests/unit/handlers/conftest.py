"""Unit tests that run the functions' handlers (and the store) on moto's in-process `mock_aws`
(see tests/support/world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tables import Tables, make_tables
from tests.support.world import World, mocked_world


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A fresh in-process Countersign for one test."""
    with mocked_world(monkeypatch) as mocked:
        yield mocked


@pytest.fixture(scope="module")
def module_world() -> Iterator[World]:
    """One in-process Countersign shared by a module's tests (each test makes its own application)."""
    with pytest.MonkeyPatch.context() as monkeypatch, mocked_world(monkeypatch) as mocked:
        yield mocked


@pytest.fixture
def tables(world: World, tmp_path: Path) -> Tables:
    """Two applications' sessions, an update and events in the landing tier; an empty tables catalog."""
    return make_tables(world, tmp_path)
