"""countersign.envelope on moto's KMS: secrets are bound to their application and key name."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from countersign import envelope
from countersign.errors import ApiError, DependencyUnavailable
from tests.support.world import World

SECRET = "css_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"


@pytest.fixture
def kms_world(world: World) -> World:
    world.handler("KeysFunction")  # applies the function's environment: the provisioned KMS key
    return world


def test_a_sealed_secret_opens_to_its_utf8_bytes(kms_world: World) -> None:
    ciphertext = envelope.seal_secret("app_a", "key_1", SECRET)
    assert SECRET.encode() not in ciphertext
    assert envelope.open_secret("app_a", "key_1", ciphertext) == SECRET.encode("utf-8")


@pytest.mark.parametrize(
    ("app_id", "key_name"),
    [("app_b", "key_1"), ("app_a", "key_2"), ("app_b", "key_2"), ("app_a", "key_1 "), ("APP_A", "key_1")],
)
def test_a_ciphertext_cannot_be_opened_for_another_app_or_key_name(
    kms_world: World, app_id: str, key_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    ciphertext = envelope.seal_secret("app_a", "key_1", SECRET)
    with pytest.raises(ApiError) as raised:
        envelope.open_secret(app_id, key_name, ciphertext)
    # An integrity failure of stored data, not an outage: never a 503 that invites retries.
    assert not isinstance(raised.value, DependencyUnavailable)
    assert (raised.value.code, raised.value.status) == ("key_unreadable", 500)
    (record,) = [r for r in caplog.records if "does not decrypt" in r.getMessage()]
    assert (record.levelname, record.key_name, record.target_app_id) == ("ERROR", key_name, app_id)
    assert SECRET not in caplog.text and SECRET not in str(record.__dict__) and SECRET not in raised.value.message


def test_kms_sees_the_context_on_every_call(kms_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    real = envelope._kms()

    class Recording:
        def encrypt(self, **kwargs: Any) -> Any:
            calls.append(("encrypt", kwargs))
            return real.encrypt(**kwargs)

        def decrypt(self, **kwargs: Any) -> Any:
            calls.append(("decrypt", kwargs))
            return real.decrypt(**kwargs)

    monkeypatch.setattr(envelope, "_kms", Recording)
    envelope.open_secret("app_a", "key_1", envelope.seal_secret("app_a", "key_1", SECRET))
    assert [name for name, _ in calls] == ["encrypt", "decrypt"]
    for _, kwargs in calls:
        assert kwargs["EncryptionContext"] == {"appId": "app_a", "keyName": "key_1"}
        assert kwargs["KeyId"] == kms_world.provisioned.attrs[("SecretsKey", "Arn")]


@pytest.mark.parametrize(
    "failure",
    [
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Decrypt"),
        ClientError({"Error": {"Code": "KMSInternalException", "Message": "oops"}}, "Decrypt"),
        ClientError({"Error": {"Code": "DisabledException", "Message": "disabled"}}, "Decrypt"),
        EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com"),
    ],
)
def test_kms_failures_are_dependency_unavailable(
    kms_world: World, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    class Failing:
        def encrypt(self, **_: Any) -> Any:
            raise failure

        def decrypt(self, **_: Any) -> Any:
            raise failure

    monkeypatch.setattr(envelope, "_kms", Failing)
    with pytest.raises(DependencyUnavailable) as sealing:
        envelope.seal_secret("app_a", "key_1", SECRET)
    with pytest.raises(DependencyUnavailable) as opening:
        envelope.open_secret("app_a", "key_1", b"ciphertext")
    for raised in (sealing.value, opening.value):
        assert (raised.status, raised.dependency, raised.headers()) == (503, "kms", {"Retry-After": "1"})
