"""The ingest function in-process on moto's `mock_aws`, as tests/support/world.py runs it.

Sections (a), (d) and (e) of `make bench`: the botocore calls of a warm `POST /events`, the write
units it costs, and events per second through the handler against a naive baseline.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from benchmarks.dynamodb_items import WRITE_UNIT_BYTES, item_size, keys_only_index_write_units, write_units
from benchmarks.report import Figure, median
from countersign import aws, container
from tests.support.tokens import hs256_credentials
from tests.support.world import World, mocked_world

READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, Any]
    consumed_units: float | None = None

    @property
    def name(self) -> str:
        return f"{self.service}.{self.operation}"

    @property
    def conditional_write(self) -> bool:
        return self.operation in WRITE_OPERATIONS and "ConditionExpression" in self.params


@dataclass
class Recorded:
    calls: list[Call] = field(default_factory=list)

    def by_name(self) -> Counter[str]:
        return Counter(call.name + (" (conditional)" if call.conditional_write else "") for call in self.calls)


@contextlib.contextmanager
def recording(*services: str) -> Iterator[Recorded]:
    """Every botocore call the layer's clients make (the container's `aws.client`), thread-safe.

    The same hook the unit tests count with (tests/support/tenant.py `aws_calls`), plus
    each call's parameters and the ConsumedCapacity it was answered with.
    """
    recorded = Recorded()
    lock = threading.Lock()

    def before(params: dict[str, Any], context: dict[str, Any], event_name: str, **_: Any) -> None:
        _event, service, operation = event_name.split(".")
        call = Call(service, operation, dict(params))
        context["benchmark_call"] = call
        with lock:
            recorded.calls.append(call)

    def after(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = context.get("benchmark_call")
        if call is not None and "ConsumedCapacity" in parsed:
            call.consumed_units = float(parsed["ConsumedCapacity"].get("CapacityUnits", 0.0))

    clients = [aws.client(service) for service in services]
    for client in clients:
        client.meta.events.register("before-parameter-build.*.*", before)
        client.meta.events.register("after-call.*.*", after)
    try:
        yield recorded
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build.*.*", before)
            client.meta.events.unregister("after-call.*.*", after)


class IngestBench:
    """One application with an HS256 session, driven through the template's functions."""

    def __init__(self, world: World) -> None:
        self.world = world
        created = world.create_app("Benchmark")
        self.app_id, self.admin_token = created["appId"], created["adminToken"]
        self._sequence = 0
        self._admin("PATCH", "/settings", {"useSignedMetadata": True})
        key = self._admin("POST", "/keys", {"description": "benchmark"})
        secret = self._admin("POST", f"/keys/{key['keyName']}/reveal")["secret"]
        claims = {"nonce": "bench", "visitor": {"id": "visitor-1"}, "account": {"id": "account-1"}}
        status, session = self.request("POST", "/sessions", hs256_credentials(claims, secret, key["keyName"]))
        if status != 201:
            raise RuntimeError(f"session start answered {status}: {session}")
        self.session_id = str(session["sessionId"])
        # Quiet logs: the handler logs one INFO line per request, which would drown the report.
        from countersign.observability import logger

        logger.setLevel("WARNING")

    def request(self, method: str, suffix: str, body: Any, token: str | None = None) -> tuple[int, Any]:
        with contextlib.redirect_stdout(io.StringIO()):  # the EMF metrics each invocation prints
            return self.world.request(method, f"/v1/apps/{self.app_id}{suffix}", body=body, token=token)

    def _admin(self, method: str, suffix: str, body: Any = None) -> Any:
        status, answer = self.request(method, suffix, body, token=self.admin_token)
        if status >= 300:
            raise RuntimeError(f"{method} {suffix} answered {status}: {answer}")
        return answer

    def new_events(self, count: int) -> list[dict[str, Any]]:
        now = int(time.time() * 1000)
        events = []
        for _ in range(count):
            self._sequence += 1
            events.append(
                {
                    "type": "page_view",
                    "timestamp": now,
                    "insertId": f"bench-{self._sequence}",
                    "name": "pricing",
                    "properties": {"path": "/pricing", "plan": "pro", "referrer": "https://example.com/"},
                }
            )
        return events

    def send(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        status, answer = self.request("POST", "/events", {"sessionId": self.session_id, "events": events})
        if status != 200 or answer["accepted"] != len(events):
            raise RuntimeError(f"events answered {status}: {answer}")
        return dict(answer)


@contextlib.contextmanager
def ingest_bench() -> Iterator[IngestBench]:
    """moto's mock_aws with the template provisioned, and a warm ingest container."""
    monkeypatch = pytest.MonkeyPatch()
    try:
        with mocked_world(monkeypatch) as world:
            bench = IngestBench(world)
            bench.send(bench.new_events(1))  # the container is now warm: settings, keys, session cached
            yield bench
    finally:
        monkeypatch.undo()


# --- (a) calls and (e) write units of one warm request ---------------------------------------------


def warm_request_figures(bench: IngestBench, batch: int) -> tuple[list[Figure], list[Figure]]:
    """(a) the calls of a warm request with `batch` new events, and (e) its write units."""
    with recording("dynamodb", "kms") as recorded:
        answer = bench.send(bench.new_events(batch))
    accepted = int(answer["accepted"])
    calls = recorded.calls
    conditional = [call for call in calls if call.conditional_write]
    others = [call for call in calls if not call.conditional_write]
    section = f"(a) botocore calls of a warm POST /events with {batch} new events"
    figures = [Figure(section, f"{name}", count, "calls") for name, count in sorted(recorded.by_name().items())]
    figures += [
        Figure(section, "conditional writes per new event", len(conditional) / accepted, "per event", 1.0),
        Figure(section, "other calls in the request", len(others), "calls", 2),
        Figure(section, "reads", sum(call.operation in READ_OPERATIONS for call in calls), "calls", 0),
        Figure(section, "KMS calls", sum(call.service == "kms" for call in calls), "calls", 0),
    ]

    event_units = sum(write_units(call.params["Item"]) for call in conditional)
    largest_event = max(item_size(call.params["Item"]) for call in conditional)
    reported_units = sum(call.consumed_units or 0.0 for call in conditional)
    other_sizes = {call.operation: _written_size(bench, call) for call in others}  # one PutItem, one UpdateItem
    other_units = sum(max(1, math.ceil(size / WRITE_UNIT_BYTES)) for size in other_sizes.values())
    index_units = sum(_index_write_units(bench, call.params["Item"]) for call in calls if call.operation == "PutItem")
    wcu = f"(e) write units per accepted event, {batch} new events per request"
    units = [
        Figure(
            wcu,
            "event writes only (item sizes)",
            event_units / accepted,
            "WCU/event",
            1.1,
            f"{event_units} WCU for {accepted} events; the largest event item is {largest_event} bytes",
        ),
        Figure(
            wcu,
            "event writes only (store's EventWriteUnits)",
            reported_units / accepted,
            "WCU/event",
            context="moto answers ConsumedCapacity 1.0 per write, whatever the size",
        ),
        Figure(
            wcu,
            "all writes: events + receipt + its index entry + counter",
            (event_units + other_units + index_units) / accepted,
            "WCU/event",
            context=f"{event_units} + {other_units} + {index_units} WCU; receipt item "
            f"{other_sizes.get('PutItem', 0)} bytes, counter item {other_sizes.get('UpdateItem', 0)} bytes",
        ),
    ]
    return figures, units


def _index_write_units(bench: IngestBench, item: dict[str, Any]) -> int:
    """The index entries a PutItem of DataTable writes (VisitorReceipts: receipts only)."""
    table = bench.world.template["Resources"]["DataTable"]["Properties"]
    table_keys = [key["AttributeName"] for key in table["KeySchema"]]
    units = 0
    for index in table.get("GlobalSecondaryIndexes", []):
        assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}, "price the projected attributes too"
        index_keys = [key["AttributeName"] for key in index["KeySchema"]]
        units += keys_only_index_write_units(item, table_keys, index_keys)
    return units


def _written_size(bench: IngestBench, call: Call) -> int:
    """The size of the item a write leaves (what it is billed by)."""
    if call.operation == "PutItem":
        return item_size(call.params["Item"])
    if call.operation == "UpdateItem":
        # ADD only grows the item, so the larger of before and after is the item as it is now.
        item = bench.world.dynamodb.get_item(TableName=call.params["TableName"], Key=call.params["Key"])["Item"]
        return item_size(item)
    raise ValueError(f"no item size for {call.name}")


def cold_request_figures(bench: IngestBench, batch: int) -> list[Figure]:
    """What the first events request of a new container reads (for the reader; no budget)."""
    container.reset()
    with recording("dynamodb", "kms") as recorded:
        bench.send(bench.new_events(batch))
    section = f"(a) for comparison: the same request on a cold container ({batch} new events)"
    return [Figure(section, name, count, "calls") for name, count in sorted(recorded.by_name().items())]


# --- (d) events per second -----------------------------------------------------------------------------


def throughput_figures(bench: IngestBench, *, rounds: int = 3) -> list[Figure]:
    """Events per second through the handler vs one sequential PutItem per event, on the same moto.

    In-process moto answers in microseconds of CPU, so the first figure compares CPU work only
    (the handler's concurrent writes cannot overlap anything). The second injects a fixed delay
    into every DynamoDB call of the container's client (both sides share it), as a round trip to
    DynamoDB would: what the concurrent conditional writes are for.
    """
    section = "(d) events per second in-process on moto (mock_aws)"
    figures = []
    for delay, requests in ((0.0, 4), (ROUND_TRIP_SECONDS, 2)):
        handler_rate, naive_rate, ratio = _throughput(bench, rounds=rounds, requests=requests, delay=delay)
        label = "no added latency (CPU only)" if not delay else f"{delay * 1000:g} ms added to every DynamoDB call"
        figures.append(
            Figure(
                section,
                f"ingest handler ({THROUGHPUT_BATCH} events/request) / naive sequential PutItem, {label}",
                ratio,
                "x",
                context=f"handler {handler_rate:,.0f} ev/s, naive {naive_rate:,.0f} ev/s; "
                f"median of {rounds} interleaved rounds of {requests * THROUGHPUT_BATCH} events",
            )
        )
    return figures


ROUND_TRIP_SECONDS = 0.005
THROUGHPUT_BATCH = 100


def _throughput(bench: IngestBench, *, rounds: int, requests: int, delay: float) -> tuple[float, float, float]:
    client = aws.client("dynamodb")
    table = bench.world.data_table
    handler_rates: list[float] = []
    naive_rates: list[float] = []
    ratios: list[float] = []
    events_per_round = requests * THROUGHPUT_BATCH

    def round_trip(**_: Any) -> None:
        time.sleep(delay)  # releases the GIL, as waiting on a socket does

    if delay:
        client.meta.events.register("before-call.dynamodb.*", round_trip)
    try:
        for round_index in range(rounds):
            batches = [bench.new_events(THROUGHPUT_BATCH) for _ in range(requests)]
            naive_items = [
                {
                    "pk": {"S": f"NAIVE#{bench.app_id}#{delay}-{round_index}-{i}"},
                    "sk": {"S": "EVENT"},
                    "payload": {"S": str(event)},
                }
                for i, event in enumerate(bench.new_events(events_per_round))
            ]

            def through_handler(batches: list[list[dict[str, Any]]] = batches) -> float:
                started = time.perf_counter()
                for events in batches:
                    bench.send(events)
                return events_per_round / (time.perf_counter() - started)

            def naive(items: list[dict[str, Any]] = naive_items) -> float:
                started = time.perf_counter()
                for item in items:
                    client.put_item(TableName=table, Item=item)
                return events_per_round / (time.perf_counter() - started)

            # Alternate which goes first, so drift in machine load hits both alike.
            if round_index % 2:
                naive_rate, handler_rate = naive(), through_handler()
            else:
                handler_rate, naive_rate = through_handler(), naive()
            handler_rates.append(handler_rate)
            naive_rates.append(naive_rate)
            ratios.append(handler_rate / naive_rate)
    finally:
        if delay:
            client.meta.events.unregister("before-call.dynamodb.*", round_trip)
    return median(handler_rates), median(naive_rates), median(ratios)
