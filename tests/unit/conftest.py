"""Fixtures both kinds of unit test use. tests/unit/core needs no AWS; tests/unit/handlers runs the
functions (and the store they use) on moto's in-process `mock_aws`."""

from __future__ import annotations

import pytest

from tests.support.tls import TestPki, make_test_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A throw-away CA and a localhost certificate for real TLS on loopback."""
    return make_test_pki(tmp_path_factory.mktemp("pki"))
