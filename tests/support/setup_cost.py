"""Setup work the unit suite would otherwise repeat for every test, done once per process.

Each in-process world (tests/support/world.py) is a fresh `mock_aws`, so a fresh default boto3
session: without these, every test re-parses botocore's JSON models and endpoint rules, and moto
generates a 2048-bit RSA key pair for each KMS key it creates. Neither is what a test checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def shared_botocore_data() -> Iterator[None]:
    """Every botocore session of the process reads its data files through one loader.

    The loader caches what it parses, and sessions already share what it returns between their
    clients, so sharing it between sessions changes nothing but the parsing.
    """
    import botocore.loaders
    import botocore.session

    create_loader = botocore.session.create_loader
    # boto3 appends its own data path to each new session's loader: keep one copy of it.
    default_loader = botocore.loaders.Loader(extra_search_paths=_UniquePaths())

    def shared(search_path_string: str | None = None) -> botocore.loaders.Loader:
        return default_loader if search_path_string is None else create_loader(search_path_string)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", shared)
        yield


class _UniquePaths(list[str]):
    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@contextmanager
def one_key_pair_for_symmetric_kms_keys() -> Iterator[None]:
    """moto makes an RSA key pair for every KMS key, symmetric ones too, which never use it
    (encrypt and decrypt use the key's own 256-bit material): make that unused pair once."""
    import moto.kms.models

    generate = moto.kms.models.generate_private_key
    unused: dict[str, Any] = {}

    def once_for_symmetric(key_spec: str) -> Any:
        if key_spec != "SYMMETRIC_DEFAULT":
            return generate(key_spec)
        if key_spec not in unused:
            unused[key_spec] = generate(key_spec)
        return unused[key_spec]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(moto.kms.models, "generate_private_key", once_for_symmetric)
        yield
