"""countersign.store.keys on moto's DynamoDB: the slot counter, revocation and the ingest reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from countersign.errors import ApiError, DependencyUnavailable
from countersign.store import keys as store_keys
from countersign.store.keys import KeyNameTaken, KeyStore
from tests.support.world import World

APP = "app_store"
T0 = datetime(2026, 11, 21, tzinfo=UTC)


@pytest.fixture
def store(world: World) -> KeyStore:
    return KeyStore(world.control_table, world.dynamodb)


def create(store: KeyStore, name: str, *, app: str = APP, at: datetime = T0, max_active: int = 5) -> None:
    store.create_key(app, name, f"about {name}", f"sealed {name}".encode(), at, max_active=max_active)


def test_create_stores_the_key_and_counts_its_slot(store: KeyStore) -> None:
    create(store, "key_a")
    key = store.get_key(APP, "key_a")
    assert key is not None
    assert (key.key_name, key.description, key.status, key.created_at, key.revoked_at) == (
        "key_a",
        "about key_a",
        "active",
        "2026-11-21T00:00:00Z",
        None,
    )
    assert store.active_key_count(APP) == 1


def test_the_counter_refuses_the_key_over_the_limit_and_nothing_is_written(store: KeyStore) -> None:
    for index in range(5):
        create(store, f"key_{index}")
    with pytest.raises(ApiError) as raised:
        create(store, "key_5")
    assert raised.value.code == "key_limit_reached"
    assert store.get_key(APP, "key_5") is None
    assert store.active_key_count(APP) == 5


def test_a_taken_name_is_reported_without_using_a_slot(store: KeyStore) -> None:
    create(store, "key_a")
    with pytest.raises(KeyNameTaken):
        create(store, "key_a")
    assert store.active_key_count(APP) == 1
    sealed = store.ciphertext(APP, "key_a")
    assert sealed is not None and sealed.ciphertext == b"sealed key_a"


def test_revoke_is_permanent_frees_the_slot_and_destroys_the_ciphertext(store: KeyStore) -> None:
    create(store, "key_a")
    revoked = store.revoke_key(APP, "key_a", T0 + timedelta(hours=1))
    assert (revoked.status, revoked.revoked_at) == ("revoked", "2026-11-21T01:00:00Z")
    assert store.active_key_count(APP) == 0
    sealed = store.ciphertext(APP, "key_a")
    assert sealed is not None and sealed.ciphertext is None

    with pytest.raises(ApiError) as again:
        store.revoke_key(APP, "key_a", T0 + timedelta(hours=2))
    assert again.value.code == "key_revoked"
    assert store.active_key_count(APP) == 0  # a refused revocation gives nothing back
    after = store.get_key(APP, "key_a")
    assert after is not None and after.revoked_at == "2026-11-21T01:00:00Z"


def test_revoking_an_unknown_key_is_not_found_and_changes_nothing(store: KeyStore) -> None:
    create(store, "key_a")
    with pytest.raises(ApiError) as raised:
        store.revoke_key(APP, "key_missing", T0)
    assert raised.value.code == "key_not_found"
    assert store.active_key_count(APP) == 1
    assert store.get_key(APP, "key_missing") is None


def test_keys_and_counters_are_per_application(store: KeyStore) -> None:
    for index in range(5):
        create(store, f"key_{index}")
    create(store, "key_0", app="app_other")  # same name, other application: a different key
    assert store.active_key_count("app_other") == 1
    with pytest.raises(ApiError):
        store.revoke_key("app_other", "key_1", T0)
    assert store.get_key("app_other", "key_1") is None
    assert [key.key_name for key in store.list_keys("app_other")] == ["key_0"]


def test_listing_never_carries_ciphertext(store: KeyStore, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    create(store, "key_a")
    create(store, "key_b")
    store.revoke_key(APP, "key_b", T0)
    seen: list[dict[str, Any]] = []
    real_query = world.dynamodb.query

    def recording_query(**kwargs: Any) -> Any:
        page = real_query(**kwargs)
        seen.extend(page["Items"])
        return page

    monkeypatch.setattr(store.client, "query", recording_query)
    listed = store.list_keys(APP)
    assert {key.key_name for key in listed} == {"key_a", "key_b"}
    assert seen and all("ciphertext" not in item for item in seen)
    assert store.active_key_count(APP) == 1  # the KEYSLOTS item is no key


def test_signing_keys_reads_active_ciphertexts_and_revoked_names_in_one_query(
    store: KeyStore, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("key_a", "key_b", "key_c"):
        create(store, name)
    store.revoke_key(APP, "key_b", T0)
    queries: list[dict[str, Any]] = []
    real_query = world.dynamodb.query

    def counting_query(**kwargs: Any) -> Any:
        queries.append(kwargs)
        return real_query(**kwargs)

    monkeypatch.setattr(store.client, "query", counting_query)
    found = store.signing_keys(APP)
    assert found.active == {"key_a": b"sealed key_a", "key_c": b"sealed key_c"}
    assert found.revoked == frozenset({"key_b"})
    assert len(queries) == 1
    assert store.active_keys(APP) == found.active


def test_listing_follows_pages(store: KeyStore, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(7):
        create(store, f"key_{index}", max_active=10)
    real_query = world.dynamodb.query
    monkeypatch.setattr(store.client, "query", lambda **kwargs: real_query(**kwargs, Limit=2))
    assert len(store.list_keys(APP)) == 7
    assert len(store.active_keys(APP)) == 7


def cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


class Interfering:
    """The real client, except that the first `failures` transactions are cancelled as given."""

    def __init__(self, real: Any, failures: list[ClientError]) -> None:
        self.real = real
        self.failures = failures
        self.attempts = 0

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.real.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_transaction_conflicts_are_tried_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_keys, "_CONFLICT_PAUSE_SECONDS", 0)
    client = Interfering(
        world.dynamodb, [cancelled("TransactionConflict", "None"), cancelled("None", "TransactionConflict")]
    )
    store = KeyStore(world.control_table, client)
    create(store, "key_a")
    assert client.attempts == 3
    assert store.active_key_count(APP) == 1


def test_lasting_conflicts_are_dependency_unavailable(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_keys, "_CONFLICT_PAUSE_SECONDS", 0)
    client = Interfering(world.dynamodb, [cancelled("TransactionConflict", "None") for _ in range(10)])
    with pytest.raises(DependencyUnavailable):
        create(KeyStore(world.control_table, client), "key_a")


@pytest.mark.parametrize("codes", [("ThrottlingError", "None"), ("None", "ValidationError"), ()])
def test_other_cancellations_are_dependency_unavailable(world: World, codes: tuple[str, ...]) -> None:
    store = KeyStore(world.control_table, Interfering(world.dynamodb, [cancelled(*codes)]))
    with pytest.raises(DependencyUnavailable):
        create(store, "key_a")


def test_a_limit_failure_wins_over_a_conflict_on_the_other_item(world: World) -> None:
    store = KeyStore(
        world.control_table, Interfering(world.dynamodb, [cancelled("ConditionalCheckFailed", "TransactionConflict")])
    )
    with pytest.raises(ApiError) as raised:
        create(store, "key_a")
    assert raised.value.code == "key_limit_reached"


def test_dynamodb_outages_are_dependency_unavailable(world: World) -> None:
    failure = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "Query")
    store = KeyStore(world.control_table, Interfering(world.dynamodb, [failure]))
    with pytest.raises(DependencyUnavailable):
        create(store, "key_a")
