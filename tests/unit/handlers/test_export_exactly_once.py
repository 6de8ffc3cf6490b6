"""Exactly once into the lake (SPEC 6), proven against Lambda's delivery rules on mock_aws.

The records are real: two applications' sessions, metadata updates and events go through the
ingest function, and DataTable's stream (moto) holds what they wrote. They are delivered to the
export function by `ShardDelivery`, the local stack's model of Lambda's event source mapping read
from template.yaml (retries, bisection, partial batch responses, the on-failure destination),
while S3 fails in the ways a real delivery meets: an error after some objects were written, a
lost answer to a write that happened, a crash between two objects, an outage that outlasts the
retries. Whatever happens, the lake ends with each event and each session change in exactly one line.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from countersign import aws
from countersign.export import export_batch
from countersign.store.lake_objects import LakeObjects
from countersign_dev.emulation.containers import LambdaContext
from countersign_dev.emulation.provision import REGION
from countersign_dev.emulation.stream_poller import ShardDelivery, StreamMapping
from countersign_dev.lake import LakeTarget, redrive, redrive_message
from tests.support.lake import export_mapping, identity_counts, lake_keys, stream_records
from tests.support.tenant import Tenant
from tests.support.world import World


@dataclass
class Lake:
    world: World
    records: list[dict[str, Any]]  # what the filter passes, in stream order
    expected: set[str]  # every identity the lake must hold once
    mapping: StreamMapping

    @property
    def bucket(self) -> str:
        return self.world.provisioned.refs["ExportBucket"]

    @property
    def s3(self) -> Any:
        return boto3.client("s3", region_name=REGION)

    @property
    def shard_id(self) -> str:
        streams = boto3.client("dynamodbstreams", region_name=REGION)
        stream_arn = self.world.provisioned.attrs[("DataTable", "StreamArn")]
        return str(streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"])

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.world.handler("ExportFunction")(event, LambdaContext("ExportFunction"))

    def deliver(self, records: list[dict[str, Any]] | None = None, **changes: Any) -> list[dict[str, Any]]:
        """Deliver like Lambda; returns the messages sent to the on-failure destination."""
        failed: list[dict[str, Any]] = []
        delivery = ShardDelivery(
            replace(self.mapping, **changes),
            self.invoke,
            stream_arn=self.world.provisioned.attrs[("DataTable", "StreamArn")],
            shard_id=self.shard_id,
            on_failure=failed.append,
        )
        delivery.deliver(self.records if records is None else records)
        return failed

    def assert_exactly_once(self) -> None:
        counts = identity_counts(self.s3, self.bucket)
        assert set(counts) == self.expected, (self.expected - set(counts), set(counts) - self.expected)
        assert [name for name, count in counts.items() if count != 1] == []


@pytest.fixture
def lake(world: World) -> Lake:
    """Two applications' traffic: sessions, an update, new and duplicate events, a rejection."""
    expected: set[str] = set()
    now = int(time.time() * 1000)
    for app in range(2):
        tenant = Tenant(world)
        for person in range(3):
            status, session = tenant.session({"metadata": {"visitor": {"id": f"v-{person}", "n": 0}}})
            assert status == 201
            sid = session["sessionId"]
            expected.add(f"sessions:{sid}@1")
            for request in range(3):
                events = [
                    {"type": f"t{index % 3}", "timestamp": now + index, "insertId": f"{app}-{person}-{request}-{index}"}
                    for index in range(4)
                ]
                status, answer = tenant.events(sid, [*events, events[0], {"type": ""}])
                assert status == 200 and answer["accepted"] == 4, answer
            if person == 0:
                update = {"metadata": {"visitor": {"id": "v-0", "n": 1}}}
                assert tenant.sdk("PATCH", f"/sessions/{sid}", update)[0] == 200
                expected.add(f"sessions:{sid}@2")
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    mapping = export_mapping(world.template)
    records = [
        r for r in stream_records(streams, world.provisioned.attrs[("DataTable", "StreamArn")]) if mapping.passes(r)
    ]
    # A shard numbers its records in increasing order, each once; the export relies on it.
    sequences = [int(record["dynamodb"]["SequenceNumber"]) for record in records]
    assert sequences == sorted(set(sequences)), "the emulated stream broke a shard's order"
    for record in records:
        pk = record["dynamodb"]["Keys"]["pk"]["S"]
        if pk.startswith("EVENT#"):
            expected.add("events:" + pk.split("#", 2)[2])
    assert len(expected) == 2 * 3 * 12 + 2 * 4  # 72 events, 6 starts, 2 updates
    return Lake(world, records, expected, mapping)


@contextmanager
def s3_fault(
    fail: Callable[[int, dict[str, Any]], BaseException | None], *, after_call: bool = False
) -> Iterator[list[int]]:
    """Raise `fail(n, params)` for the n-th PutObject of the export's S3 client (before it is sent,
    or after S3 carried it out: a lost answer or a crash). Yields the PUT counter."""
    client = aws.client("s3")
    seen = [0]
    lock = threading.Lock()

    def before(params: dict[str, Any], **_: Any) -> None:
        with lock:
            seen[0] += 1
            error = fail(seen[0], params)
        if error is not None:
            raise error

    def after(**_: Any) -> None:
        before({})

    event = "after-call.s3.PutObject" if after_call else "before-parameter-build.s3.PutObject"
    handler = after if after_call else before
    client.meta.events.register(event, handler)
    try:
        yield seen
    finally:
        client.meta.events.unregister(event, handler)


def _internal_error() -> ClientError:
    return ClientError(
        {"Error": {"Code": "InternalError", "Message": "We encountered an internal error."}}, "PutObject"
    )


def test_a_clean_delivery_writes_every_line_once_in_one_object_per_partition_and_batch(lake: Lake) -> None:
    puts: list[str] = []
    with s3_fault(lambda n, params: puts.append(params["Key"])):  # type: ignore[func-returns-value]
        failed = lake.deliver(batch_size=25)
    assert failed == []
    lake.assert_exactly_once()
    batches = [lake.records[start : start + 25] for start in range(0, len(lake.records), 25)]
    partitions_per_batch = [
        len(
            {
                (r["dynamodb"]["Keys"]["pk"]["S"].split("#")[0], r["dynamodb"]["Keys"]["pk"]["S"].split("#")[1])
                for r in batch
            }
        )
        for batch in batches
    ]
    assert len(puts) == sum(partitions_per_batch)  # one PUT per application (and day) and kind in a batch
    assert sorted(puts) == sorted(
        key for kind in ("events", "sessions") for key in lake_keys(lake.s3, lake.bucket, kind)
    )


@pytest.mark.parametrize("failing_put", [1, 2, 3])
def test_s3_failing_after_some_objects_is_retried_from_the_first_failed_line(lake: Lake, failing_put: int) -> None:
    with s3_fault(lambda n, _: _internal_error() if n == failing_put else None):
        assert lake.deliver() == []
    lake.assert_exactly_once()


@pytest.mark.parametrize("lost", [1, 2, 4])
def test_a_lost_answer_to_a_write_that_happened_is_not_written_twice(lake: Lake, lost: int) -> None:
    timeout = ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")
    with s3_fault(lambda n, _: timeout if n == lost else None, after_call=True):
        assert lake.deliver() == []
    lake.assert_exactly_once()


@pytest.mark.parametrize(("crash_at", "batch_size"), [(1, 1000), (2, 1000), (3, 7), (4, 40)])
def test_a_crash_between_objects_is_bisected_and_the_halves_add_nothing_twice(
    lake: Lake, crash_at: int, batch_size: int
) -> None:
    invocations: list[int] = []
    real_invoke = lake.invoke

    def counted(event: dict[str, Any]) -> dict[str, Any]:
        invocations.append(len(event["Records"]))
        return real_invoke(event)

    lake.invoke = counted  # type: ignore[method-assign]
    crash = RuntimeError("the container died between two objects")
    with s3_fault(lambda n, _: crash if n == crash_at else None, after_call=True):
        assert lake.deliver(batch_size=batch_size) == []
    assert any(size < min(batch_size, len(lake.records)) for size in invocations[1:])  # it was bisected
    lake.assert_exactly_once()


def test_a_batch_delivered_again_in_other_boundaries_adds_no_line(lake: Lake) -> None:
    assert lake.deliver(batch_size=11) == []
    before = {kind: lake_keys(lake.s3, lake.bucket, kind) for kind in ("events", "sessions")}
    for size in (1000, 5, 3):  # a replay of everything, and bisected halves of halves
        assert lake.deliver(batch_size=size) == []
    assert lake.deliver(lake.records[7:30:2]) == []  # any subset, in order
    lake.assert_exactly_once()
    assert {kind: lake_keys(lake.s3, lake.bucket, kind) for kind in ("events", "sessions")} == before


def test_a_batch_half_written_then_replayed_in_other_boundaries_completes_exactly_once(lake: Lake) -> None:
    # Deliver one big batch whose S3 dies after two objects, give up at once, then replay in small batches.
    with s3_fault(lambda n, _: _internal_error() if n > 2 else None):
        failed = lake.deliver(max_retries=0, bisect=False)
    assert len(failed) == 1
    assert lake.deliver(batch_size=4) == []
    lake.assert_exactly_once()


def test_eight_concurrent_deliveries_of_one_batch_write_it_once(lake: Lake) -> None:
    # Eight containers export the same batch at once. In one process they would share the
    # handler's Powertools metrics, which Lambda never shares between two invocations at once, so
    # each runs the export itself (tests/integration/test_lake_local.py sends the batch eight
    # times over HTTP to the real handler).
    lake.world.handler("ExportFunction")  # the function's environment: its bucket and tables
    objects = LakeObjects(lake.bucket, aws.client("s3"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: export_batch(lake.records, objects), range(8)))
    assert [outcome.retry_from for outcome in outcomes] == [None] * 8
    lake.assert_exactly_once()


def test_an_outage_past_the_retries_goes_to_the_queue_and_the_redrive_completes_it(lake: Lake) -> None:
    world = lake.world
    queue_url = world.provisioned.refs["ExportDeadLetterQueue"]
    sqs = boto3.client("sqs", region_name=REGION)
    first_app = lake.records[0]["dynamodb"]["Keys"]["pk"]["S"].split("#")[1]
    outage = itertools.count()

    def one_app_down(_: int, params: dict[str, Any]) -> BaseException | None:
        next(outage)
        return _internal_error() if f"app={first_app}/" in params["Key"] else None

    with s3_fault(one_app_down):
        failed = lake.deliver(batch_size=30)
    assert failed, "the outage outlasted the retries"
    for message in failed:
        info = message["DDBStreamBatchInfo"]
        assert info["startSequenceNumber"] <= info["endSequenceNumber"] and info["streamArn"].endswith(
            world.provisioned.attrs[("DataTable", "StreamArn")].rsplit("/", 1)[1]
        )
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
    counts = identity_counts(lake.s3, lake.bucket)
    assert set(counts) < lake.expected and all(count == 1 for count in counts.values())

    streams = boto3.client("dynamodbstreams", region_name=REGION)
    done = redrive(LakeTarget(lake.s3, lake.bucket, streams=streams, sqs=sqs, queue_url=queue_url))
    # On failure: the batches that reached the queue and what the lake still lacks after the
    # redrive, which tells a lost line from a miscount.
    assert done["batches"] == len(failed) and done["linesWritten"] == len(lake.expected) - len(counts), (
        done,
        [message["DDBStreamBatchInfo"]["batchSize"] for message in failed],
        sorted(lake.expected - set(identity_counts(lake.s3, lake.bucket))),
    )
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)
    lake.assert_exactly_once()
    # A second redrive of the same messages adds nothing.
    for message in failed:
        redrive_message(message, streams, lake.s3, lake.bucket)
    lake.assert_exactly_once()
