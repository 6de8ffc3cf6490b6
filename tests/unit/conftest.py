"""Fixtures both kinds of unit test use. tests/unit/core needs no AWS; tests/unit/handlers runs the
functions (and the store they use) on moto's in-process `mock_aws`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.setup_cost import (
    one_key_pair_for_symmetric_kms_keys,
    queries_read_only_what_they_can_answer,
    shared_botocore_data,
)
from tests.support.tls import TestPki, make_test_pki


@pytest.fixture(scope="session", autouse=True)
def _setup_once_per_process() -> Iterator[None]:
    """botocore's models parsed once, moto's unused KMS key pair made once, and moto's queries
    reading only the items they can answer with (setup_cost.py)."""
    with shared_botocore_data(), one_key_pair_for_symmetric_kms_keys(), queries_read_only_what_they_can_answer():
        yield


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A throw-away CA and a localhost certificate for real TLS on loopback."""
    return make_test_pki(tmp_path_factory.mktemp("pki"))
