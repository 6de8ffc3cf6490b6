"""Per-application rate limits in-process (SPEC 4): the one-second window counted in the counter
write a request makes anyway, the door a container closes at the limit, overrides per application.

The clock of the two modules that read it (tenancy, the counter store) is pinned to one second, so a
test never straddles two windows by accident; moving it is how a test starts the next second.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from countersign import aws, container, tenancy
from countersign.store import counters as counters_module
from countersign.store.control import ControlStore
from countersign.store.counters import COUNTER_SHARDS, RATE_SLOTS, CounterStore
from countersign_dev.emulation import template as tpl
from tests.support.tenant import Tenant, aws_calls
from tests.support.world import World

START = 1_800_000_000.25


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = START
        fake = SimpleNamespace(time=lambda: self.now)
        monkeypatch.setattr(tenancy, "time", fake)
        monkeypatch.setattr(counters_module, "time", fake)

    def next_second(self) -> None:
        self.now = float(int(self.now) + 1) + 0.25


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def store(world: World) -> CounterStore:
    return CounterStore(world.data_table, aws.client("dynamodb"))  # the client aws_calls counts


def counted(world: World, app_id: str) -> dict[str, int]:
    """What diagnostics would show: the counters of the hours around START, rate windows left out."""
    since, until = datetime.fromtimestamp(START - 3600, UTC), datetime.fromtimestamp(START + 3600, UTC)
    return CounterStore(world.data_table, aws.client("dynamodb")).totals(app_id, since, until)


def one_event(session_id: str, tag: str) -> dict[str, Any]:
    event = {"type": "click", "timestamp": int(time.time() * 1000), "insertId": tag}  # the real clock: not "in future"
    return {"sessionId": session_id, "events": [event]}


def test_the_counter_write_returns_the_applications_requests_this_second(world: World) -> None:
    counters = store(world)
    assert [counters.add_counts("app_a", {"accepted": 1}, now=START) for _ in range(3)] == [1, 2, 3]
    assert counters.add_counts("app_b", {"accepted": 1}, now=START) == 1  # another application's own window
    assert counters.add_counts("app_a", {}, family="admin", now=START) == 1  # another family's own window
    assert counters.add_counts("app_a", {"accepted": 1}, now=START + 1) == 1  # the next second starts at 1
    # The rate window's attributes are not counters: diagnostics never show them.
    assert counted(world, "app_a") == {"accepted": 4}


def test_a_slot_left_from_a_whole_cycle_ago_is_taken_back(world: World) -> None:
    counters = store(world)
    for _ in range(5):
        counters.add_counts("app_a", {"accepted": 1}, now=START)
    cycle = COUNTER_SHARDS * RATE_SLOTS  # same shard, same slot, and nothing written in between
    with aws_calls("dynamodb") as calls:
        assert counters.add_counts("app_a", {"accepted": 1}, now=START + cycle) == 1
    assert calls["dynamodb.UpdateItem"] == 2  # the write and its one corrective ADD
    assert counters.add_counts("app_a", {}, now=START + cycle) == 2
    assert counted(world, "app_a") == {"accepted": 6}


def test_a_flooding_application_gets_429_without_aws_calls_and_another_is_unaffected(
    world: World, clock: Clock
) -> None:
    flooder, neighbour = Tenant(world), Tenant(world)
    ControlStore(world.control_table, world.dynamodb).set_limits(flooder.app_id, {"sdk": 3})
    flood_session = flooder.session({"metadata": {"visitor": {"id": "f"}}})[1]["sessionId"]
    calm_session = neighbour.session({"metadata": {"visitor": {"id": "n"}}})[1]["sessionId"]
    clock.next_second()

    answers = [flooder.events(flood_session, one_event(flood_session, f"f{i}")["events"]) for i in range(3)]
    assert [(status, body["accepted"]) for status, body in answers] == [(200, 1)] * 3
    with aws_calls("dynamodb", "kms") as calls:
        refused = world.invoke_raw("POST", f"/v1/apps/{flooder.app_id}/events", one_event(flood_session, "f3"))
    assert refused["statusCode"] == 429
    assert json.loads(refused["body"])["error"]["code"] == "rate_limited"
    headers = refused.get("multiValueHeaders") or {k: [v] for k, v in refused.get("headers", {}).items()}
    assert headers["Retry-After"] == ["1"]
    assert sum(calls.values()) == 0  # a refused request costs no AWS call at all
    for i in range(10):  # the same second: the other application is not affected
        assert neighbour.events(calm_session, [one_event(calm_session, f"n{i}")["events"][0]])[0] == 200
    clock.next_second()
    assert flooder.events(flood_session, [one_event(flood_session, "f4")["events"][0]])[0] == 200


def test_the_stack_default_applies_without_an_override_and_an_override_wins(world: World, clock: Clock) -> None:
    tenant = Tenant(world)
    assert tenant.admin("GET", "/settings")[0] == 200  # a function's environment is now the template's
    controls = ControlStore(world.control_table, world.dynamodb)
    defaults = tpl.parameter_defaults(tpl.load_template())  # the functions' environment comes from these
    assert tenancy.limit(tenant.app_id, "sdk") == int(defaults["AppSdkRequestsPerSecond"])
    assert tenancy.limit(tenant.app_id, "admin") == int(defaults["AppAdminRequestsPerSecond"])
    assert controls.set_limits(tenant.app_id, {"admin": 2}) == {"admin": 2}
    container.reset()  # overrides are cached like settings; a cold container reads the new one
    assert tenancy.limit(tenant.app_id, "admin") == 2
    assert controls.set_limits(tenant.app_id, {"admin": None}) == {}


def test_admin_requests_count_once_authorized(world: World, clock: Clock) -> None:
    tenant = Tenant(world)
    ControlStore(world.control_table, world.dynamodb).set_limits(tenant.app_id, {"admin": 2})
    clock.next_second()
    for _ in range(5):  # refused before they count: a stranger cannot use up the app's budget
        status, _ = world.request("GET", f"/v1/apps/{tenant.app_id}/settings", token="cs_admin_not-a-token")
        assert status == 401
    assert [tenant.admin("GET", "/settings")[0] for _ in range(3)] == [200, 200, 429]
    clock.next_second()
    assert tenant.admin("GET", "/settings")[0] == 200


def sdk(world: World, tenant: Tenant, suffix: str, body: Any, *, source_ip: str) -> int:
    return world.request("POST", f"/v1/apps/{tenant.app_id}{suffix}", body=body, source_ip=source_ip)[0]


def test_requests_refused_before_verification_spend_no_budget_of_verified_traffic(world: World, clock: Clock) -> None:
    """Issue 21: 40 junk requests naming a public appId kept the app at 429 with its limit at 5/s."""
    tenant = Tenant(world)
    ControlStore(world.control_table, world.dynamodb).set_limits(tenant.app_id, {"sdk": 3})
    session = tenant.session({"metadata": {"visitor": {"id": "real"}}})[1]["sessionId"]
    tenant.settings(useSignedMetadata=True)
    clock.next_second()
    junk = {
        "/events": one_event("s_" + "x" * 32, "junk"),  # no such session: 404
        "/sessions": {"jwt": "a.b.c", "signingKeyName": "key_junk"},  # a malformed token: a drop (400)
    }
    with aws_calls("dynamodb") as calls:
        statuses = [
            sdk(world, tenant, suffix, body, source_ip=f"203.0.113.{n}")
            for n in range(5)
            for suffix, body in junk.items()
        ]
    assert set(statuses) == {404, 400}, statuses
    assert calls["dynamodb.UpdateItem"] == 5  # the drops' own counters, none of them a request of the window
    verified = [sdk(world, tenant, "/events", one_event(session, f"ok-{n}"), source_ip="192.0.2.1") for n in range(3)]
    assert verified == [200, 200, 200]
    assert sdk(world, tenant, "/events", one_event(session, "over"), source_ip="192.0.2.1") == 429  # the limit holds


def test_one_client_gets_its_share_of_an_applications_budget_not_all_of_it(world: World, clock: Clock) -> None:
    tenant = Tenant(world)
    ControlStore(world.control_table, world.dynamodb).set_limits(tenant.app_id, {"sdk": 40})
    session = tenant.session({"metadata": {"visitor": {"id": "v"}}})[1]["sessionId"]
    clock.next_second()
    share = tenancy.client_share(40)
    assert share == 10  # a quarter of the limit, at least CLIENT_SHARE_FLOOR
    greedy = [
        sdk(world, tenant, "/events", one_event(session, f"g{n}"), source_ip="203.0.113.9") for n in range(share + 3)
    ]
    assert greedy == [200] * share + [429] * 3
    assert sdk(world, tenant, "/events", one_event(session, "other"), source_ip="192.0.2.44") == 200
    clock.next_second()
    assert sdk(world, tenant, "/events", one_event(session, "g-next"), source_ip="203.0.113.9") == 200


def test_a_small_limit_is_one_clients_whole_share() -> None:
    assert tenancy.client_share(3) == tenancy.CLIENT_SHARE_FLOOR
    assert tenancy.client_share(500) == 125


def test_an_unknown_admin_token_is_one_read_while_cached(world: World, clock: Clock) -> None:
    tenant = Tenant(world)
    stranger = "csa_" + "x" * 43
    with aws_calls("dynamodb") as calls:
        for _ in range(5):
            assert world.request("GET", f"/v1/apps/{tenant.app_id}/settings", token=stranger)[0] == 401
    assert calls["dynamodb.GetItem"] == 1


def test_a_client_refused_again_and_again_is_bounded_without_lookups(world: World, clock: Clock) -> None:
    tenant = Tenant(world)
    path = f"/v1/apps/{tenant.app_id}/settings"
    with aws_calls("dynamodb") as calls:
        statuses = [
            world.request("GET", path, token=f"csa_{n:043d}", source_ip="203.0.113.66")[0]
            for n in range(tenancy.REFUSALS_PER_CLIENT + 5)
        ]
    assert statuses == [401] * tenancy.REFUSALS_PER_CLIENT + [429] * 5
    assert calls["dynamodb.GetItem"] == tenancy.REFUSALS_PER_CLIENT  # the bound: no lookup past it
    assert world.request("GET", path, token="csa_" + "y" * 43, source_ip="192.0.2.8")[0] == 401
    assert world.request("GET", path, token=tenant.token, source_ip="192.0.2.9")[0] == 200
    clock.next_second()
    assert world.request("GET", path, token="csa_" + "z" * 43, source_ip="203.0.113.66")[0] == 401
