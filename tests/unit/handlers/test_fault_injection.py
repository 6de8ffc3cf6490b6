"""Dependency faults at every step of the SDK routes, in-process (SPEC 3.4: 503 + Retry-After, never a drop;
SPEC 4: no accepted event lost or stored twice under retries and dependency faults).

Faults are raised by botocore event hooks on the layer's own clients (`countersign.aws.client`):
`before-parameter-build` refuses a chosen call before it is sent (throttling, an outage), and
`after-call` loses the answer of a call that DynamoDB did carry out (a timeout after the write),
the harder case for exactly-once. Each case answers 503 with Retry-After, counts no drop, leaves
nothing half-written visible, and the SDK's retry of the same request completes it exactly once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from countersign import aws, container
from tests.support.tenant import Tenant, partition_key
from tests.support.tokens import hs256_credentials, with_nonce
from tests.support.world import World

_ERROR_CODES = {"dynamodb": "ProvisionedThroughputExceededException", "kms": "KMSInternalException"}


@dataclass(frozen=True)
class Fault:
    """Fail the `nth` call of `service.operation` whose key starts with `key_prefix`."""

    service: str
    operation: str
    key_prefix: str = ""
    nth: int = 1
    lost_answer: bool = False  # the call is carried out, then its answer is lost

    def matches(self, params: dict[str, Any]) -> bool:
        return partition_key(params).startswith(self.key_prefix)


@dataclass
class Firing:
    """What an injected fault saw: matching calls, and whether it fired."""

    seen: int = 0
    fired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@contextmanager
def injected(fault: Fault) -> Iterator[Firing]:
    client = aws.client(fault.service)  # the container's client: call container.reset() before, if needed
    firing = Firing()

    def before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not fault.matches(params):
            return
        with firing.lock:
            firing.seen += 1
            if firing.seen != fault.nth:
                return
            firing.fired = True
        if fault.lost_answer:
            context["countersign_fault"] = True
            return
        code = _ERROR_CODES[fault.service]
        raise ClientError({"Error": {"Code": code, "Message": "injected fault"}}, fault.operation)

    def after(context: dict[str, Any], **_: Any) -> None:
        if context.get("countersign_fault"):
            raise ReadTimeoutError(endpoint_url=f"https://{fault.service}.injected")

    events = client.meta.events
    events.register(f"before-parameter-build.{fault.service}.{fault.operation}", before)
    events.register(f"after-call.{fault.service}.{fault.operation}", after)
    try:
        yield firing
    finally:
        events.unregister(f"before-parameter-build.{fault.service}.{fault.operation}", before)
        events.unregister(f"after-call.{fault.service}.{fault.operation}", after)


@pytest.fixture
def hs256_tenant(module_world: World) -> Tenant:
    """A fresh application with useSignedMetadata on."""
    created = Tenant(module_world)
    created.settings(useSignedMetadata=True)
    return created


def items_of(module_world: World, hs256_tenant: Tenant, kind: str) -> list[dict[str, Any]]:
    prefix = f"{kind}#{hs256_tenant.app_id}#"
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": module_world.data_table}
    while True:
        page = module_world.dynamodb.scan(**request)
        found += [item for item in page["Items"] if item["pk"]["S"].startswith(prefix)]
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def send(module_world: World, method: str, path: str, body: Any) -> dict[str, Any]:
    return module_world.invoke_raw(method, path, body)


def assert_retry_later(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 503, response
    headers = {**(response.get("headers") or {}), **(response.get("multiValueHeaders") or {})}
    assert headers["Retry-After"] in ("1", ["1"])
    assert json.loads(response["body"])["error"]["code"] == "service_unavailable"


@dataclass(frozen=True)
class Signer:
    """The customer's server: signs metadata with one of the application's HS256 keys."""

    key_name: str
    secret: str

    def body(self, **claims: Any) -> dict[str, Any]:
        return hs256_credentials(with_nonce(claims), self.secret, self.key_name)

    def session_body(self) -> dict[str, Any]:
        return self.body(visitor={"id": "v-1", "plan": "free"}, account={"id": "a-1"})


@pytest.fixture
def signer(hs256_tenant: Tenant) -> Signer:
    return Signer(*hs256_tenant.new_key())


def events_of(count: int) -> list[dict[str, Any]]:
    stamp = int(time.time() * 1000)
    return [{"type": "view", "timestamp": stamp + i, "insertId": f"f-{i}"} for i in range(count)]


def raw_insert_ids(hs256_tenant: Tenant) -> list[str]:
    status, raw = hs256_tenant.admin("GET", "/raw-events", query="limit=100")
    assert status == 200
    return sorted(event["insertId"] for event in raw["events"])


# ---------------------------------------------------------------------------------- session start

SESSION_START_FAULTS = {
    "settings-read": (Fault("dynamodb", "GetItem", "APP#"), True),
    "keys-read": (Fault("dynamodb", "Query", "APP#"), True),
    "secret-decrypt": (Fault("kms", "Decrypt"), True),
    "session-write": (Fault("dynamodb", "PutItem", "SESSION#"), False),
    "session-write-answer-lost": (Fault("dynamodb", "PutItem", "SESSION#", lost_answer=True), False),
}


@pytest.mark.parametrize("step", SESSION_START_FAULTS)
def test_session_start_fault_is_503_and_the_retry_starts_one_working_session(
    module_world: World, hs256_tenant: Tenant, signer: Signer, step: str
) -> None:
    fault, cold = SESSION_START_FAULTS[step]
    body = signer.session_body()
    if cold:
        container.reset()  # a cold container reads settings and keys and decrypts the secret
    with injected(fault) as firing:
        response = send(module_world, "POST", f"/v1/apps/{hs256_tenant.app_id}/sessions", body)
    assert firing.fired
    assert_retry_later(response)
    # A lost answer leaves a session nobody was told the id of: unreachable, and it expires.
    assert len(items_of(module_world, hs256_tenant, "SESSION")) == (1 if fault.lost_answer else 0)
    assert hs256_tenant.dropped() == {}

    status, session = hs256_tenant.session(body)
    assert status == 201 and session["signed"] == "hs256"
    assert hs256_tenant.events(session["sessionId"], events_of(2))[1]["accepted"] == 2
    assert len(items_of(module_world, hs256_tenant, "SESSION")) == (2 if fault.lost_answer else 1)
    assert raw_insert_ids(hs256_tenant) == ["f-0", "f-1"]


# ---------------------------------------------------------------------------------- metadata update

UPDATE_FAULTS = {
    "session-read": Fault("dynamodb", "GetItem", "SESSION#"),
    "session-write": Fault("dynamodb", "UpdateItem", "SESSION#"),
    "session-write-answer-lost": Fault("dynamodb", "UpdateItem", "SESSION#", lost_answer=True),
}


@pytest.mark.parametrize("step", UPDATE_FAULTS)
def test_metadata_update_fault_is_503_and_the_retry_merges_once(
    module_world: World, hs256_tenant: Tenant, signer: Signer, step: str
) -> None:
    fault = UPDATE_FAULTS[step]
    session_id = hs256_tenant.session(signer.session_body())[1]["sessionId"]
    update = signer.body(visitor={"id": "v-1", "plan": "pro"})
    with injected(fault) as firing:
        response = send(module_world, "PATCH", f"/v1/apps/{hs256_tenant.app_id}/sessions/{session_id}", update)
    assert firing.fired
    assert_retry_later(response)
    (stored,) = items_of(module_world, hs256_tenant, "SESSION")
    assert json.loads(stored["visitor"]["S"]) == ({"plan": "pro"} if fault.lost_answer else {"plan": "free"})
    assert hs256_tenant.dropped() == {}

    status, updated = hs256_tenant.sdk("PATCH", f"/sessions/{session_id}", update)
    assert status == 200 and updated["visitor"] == {"plan": "pro"}
    (stored,) = items_of(module_world, hs256_tenant, "SESSION")
    assert json.loads(stored["visitor"]["S"]) == {"plan": "pro"}


# ---------------------------------------------------------------------------------- events

BATCH = 5
EVENT_FAULTS: dict[str, tuple[Fault, bool]] = {
    "session-read": (Fault("dynamodb", "GetItem", "SESSION#"), True),
    **{
        f"event-write-{n}-of-{BATCH}": (Fault("dynamodb", "PutItem", "EVENT#", nth=n), False)
        for n in range(1, BATCH + 1)
    },
    "event-write-answer-lost": (Fault("dynamodb", "PutItem", "EVENT#", nth=3, lost_answer=True), False),
    "receipt-write": (Fault("dynamodb", "PutItem", "RAW#"), False),
    "receipt-write-answer-lost": (Fault("dynamodb", "PutItem", "RAW#", lost_answer=True), False),
    "counter-write": (Fault("dynamodb", "UpdateItem", "STATS#"), False),
    "counter-write-answer-lost": (Fault("dynamodb", "UpdateItem", "STATS#", lost_answer=True), False),
}


@pytest.mark.parametrize("step", EVENT_FAULTS)
def test_events_fault_is_503_and_the_retry_stores_each_event_exactly_once(
    module_world: World, hs256_tenant: Tenant, signer: Signer, step: str
) -> None:
    fault, cold = EVENT_FAULTS[step]
    session_id = hs256_tenant.session(signer.session_body())[1]["sessionId"]
    batch = {"sessionId": session_id, "events": events_of(BATCH)}
    everything = sorted(event["insertId"] for event in batch["events"])
    if cold:
        container.reset()
    with injected(fault) as firing:
        response = send(module_world, "POST", f"/v1/apps/{hs256_tenant.app_id}/events", batch)
    assert firing.fired
    assert_retry_later(response)
    # Nothing half-visible: raw events show the whole batch or none of it, each event once.
    assert raw_insert_ids(hs256_tenant) in ([], everything)
    assert hs256_tenant.dropped() == {}

    for _ in range(2):  # the SDK's retry, and a second delivery of the same batch
        status, answer = hs256_tenant.sdk("POST", "/events", batch)
        assert status == 200, answer
        assert answer["accepted"] + answer["duplicates"] == BATCH and answer["rejected"] == []
        assert len(items_of(module_world, hs256_tenant, "EVENT")) == BATCH
        assert raw_insert_ids(hs256_tenant) == everything


# ---------------------------------------------------------------------------------- drops stay drops


@pytest.mark.parametrize(
    "fault",
    [Fault("dynamodb", "UpdateItem", "STATS#"), Fault("dynamodb", "PutItem", "DROPS#")],
    ids=["drop-counter-write", "drop-record-write"],
)
def test_a_drop_whose_diagnostics_cannot_be_written_is_still_the_drop(
    hs256_tenant: Tenant, signer: Signer, fault: Fault
) -> None:
    body = {**signer.session_body(), "signingKeyName": "key_doesnotexist"}
    with injected(fault) as firing:
        status, answer = hs256_tenant.session(body)
    assert firing.fired
    assert (status, answer["error"]["code"]) == (401, "unknown_signing_key")
