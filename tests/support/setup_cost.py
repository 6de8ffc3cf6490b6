"""Setup work the unit suite would otherwise repeat for every test, done once per process.

Each in-process world (tests/support/world.py) is a fresh `mock_aws`, so a fresh default boto3
session: without these, every test re-parses botocore's JSON models and endpoint rules, and moto
generates a 2048-bit RSA key pair for each KMS key it creates. Neither is what a test checks.
"""

from __future__ import annotations

import inspect
import threading
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


_query_scope = threading.local()


@contextmanager
def queries_read_only_what_they_can_answer() -> Iterator[None]:
    """moto answers every DynamoDB Query by sorting all the items of the table (`Table.all_items`,
    Python comparisons of `DynamoType`s), then keeping the matching ones and sorting those again.
    The longer a test's table, the slower each read: the raw-events tests with hundreds of batches
    spent most of their time there. Inside `Table.query` only, hand it what it keeps anyway:

    - a query on the table itself keeps one partition, which moto holds in `Table.items` under its
      key: those items, which the query then sorts by range key (unique within a partition);
    - a query on an index re-sorts what it keeps by the index's keys and the table's own keys (a
      total order), so the first sort decides nothing: the items unsorted.

    Same items in the same order either way (tests/unit/core/test_setup_cost.py compares); scans
    and everything else still see moto's sorted `all_items`.
    """
    from moto.dynamodb.models.table import Table

    all_items, query = Table.all_items, Table.query
    signature = inspect.signature(query)

    def scoped_all_items(self: Table) -> list[Any]:
        scope = getattr(_query_scope, "table", None)
        if scope is None or scope[0] is not self:
            return all_items(self)
        partition = scope[1]
        if partition is None:
            return [item for held in self.items.values() for item in _partition_items(self, held)]
        return _partition_items(self, self.items.get(partition))

    def scoped_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = signature.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
        if hash_key is None and index_name is None:
            return query(self, hash_key, *args, **kwargs)
        outer = getattr(_query_scope, "table", None)
        _query_scope.table = (self, None if index_name else hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _query_scope.table = outer

    scoped_all_items.__wrapped__ = all_items  # type: ignore[attr-defined]
    scoped_query.__wrapped__ = query  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Table, "all_items", scoped_all_items)
        patch.setattr(Table, "query", scoped_query)
        yield


def _partition_items(table: Any, held: Any) -> list[Any]:
    if held is None:
        return []
    return list(held.values()) if table.range_key_attr else [held]
