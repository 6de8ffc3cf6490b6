"""One local stack for the integration session, started on free ports and stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.local import LocalApi, running_local_stack


@pytest.fixture(scope="session")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    with running_local_stack(tmp_path_factory.mktemp("countersign-state")) as api:
        yield api


@pytest.fixture
def app(local: LocalApi) -> dict[str, str]:
    """A fresh application (its own settings, keys and data) for one test."""
    return local.create_app()
