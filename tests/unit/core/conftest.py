"""Unit tests of plain values and the template: no AWS, not even moto."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from countersign_dev.emulation import template as tpl


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """A customer's RS256 private key (2048 bits)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """template.yaml as CloudFormation reads it."""
    return tpl.load_template()
