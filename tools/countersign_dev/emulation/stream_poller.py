"""DynamoDB stream -> function, as Lambda's event source mapping does it, for the local stack (SPEC 6).

Everything is read from template.yaml's `Type: DynamoDB` function events: the filter criteria
(EventBridge-style patterns, matched here by `matches`), the batch size and batching window, the
retries, bisection, partial batch responses and the on-failure destination. No second copy.

    StreamPoller (a thread: reads the shard, filters, fills a batch)
        -> ShardDelivery (Lambda's delivery rules for one shard: retries, bisection, checkpoints)
            -> invoke(event) (the function, in its own container pool)
            -> on_failure(message) (the SQS destination, with the batch's shard and sequence numbers)
"""

from __future__ import annotations

import functools
import json
import operator
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from countersign_dev.emulation import template as tpl

StreamRecord = dict[str, Any]
Invoke = Callable[[dict[str, Any]], dict[str, Any] | None]
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class StreamMapping:
    """One `Type: DynamoDB` event of a function in template.yaml."""

    function: str  # logical id of the function
    table: str  # logical id of the table whose stream it reads
    batch_size: int
    window_seconds: float
    patterns: tuple[dict[str, Any], ...]
    bisect: bool
    max_retries: int  # -1: until the record expires
    partial_batch_responses: bool
    on_failure: str | None  # logical id of the destination queue

    def passes(self, record: StreamRecord) -> bool:
        """Lambda's filter criteria: no pattern passes everything, else any pattern may match."""
        return not self.patterns or any(matches(pattern, record) for pattern in self.patterns)


def stream_mappings(template: dict[str, Any]) -> list[StreamMapping]:
    """Every DynamoDB stream event source mapping the template declares."""
    found = []
    for name, res in tpl.resources_of_type(template, "AWS::Serverless::Function").items():
        for event in res["Properties"].get("Events", {}).values():
            if event.get("Type") != "DynamoDB":
                continue
            props = event["Properties"]
            stream = props["Stream"]
            if not (isinstance(stream, dict) and "Fn::GetAtt" in stream):
                raise tpl.TemplateError(f"{name}: the local stack reads a stream given as !GetAtt Table.StreamArn")
            table = stream["Fn::GetAtt"][0] if isinstance(stream["Fn::GetAtt"], list) else stream["Fn::GetAtt"]
            destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            found.append(
                StreamMapping(
                    function=name,
                    table=str(table).split(".")[0],
                    batch_size=int(props.get("BatchSize", 100)),
                    window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                    patterns=tuple(
                        json.loads(item["Pattern"]) for item in props.get("FilterCriteria", {}).get("Filters", [])
                    ),
                    bisect=bool(props.get("BisectBatchOnFunctionError", False)),
                    max_retries=int(props.get("MaximumRetryAttempts", -1)),
                    partial_batch_responses="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    on_failure=_logical_id(destination) if destination else None,
                )
            )
    return found


# filter patterns -----------------------------------------------------------------------------


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether `event` matches an EventBridge-style `pattern` (what Lambda's filter criteria use).

    Each key of the pattern must match: a nested object matches the nested field, a list matches
    if any of its rules does. Rules: a plain value (equality), {"prefix"}, {"suffix"},
    {"equals-ignore-case"}, {"anything-but"}, {"exists"}, {"numeric": [op, value, ...]}.
    """
    if not isinstance(event, dict):
        return False
    for key, expected in pattern.items():
        present = key in event
        value = event.get(key)
        if isinstance(expected, dict):
            if not (present and matches(expected, value)):
                return False
        elif isinstance(expected, list):
            if not any(_rule_matches(rule, present, value) for rule in expected):
                return False
        else:
            raise tpl.TemplateError(f"filter pattern value for {key!r} must be a list or an object")
    return True


def _rule_matches(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, dict):
        if len(rule) != 1:
            raise tpl.TemplateError(f"a filter rule has one operator: {rule!r}")
        ((name, operand),) = rule.items()
        if name == "exists":
            return present is bool(operand)
        if not present:
            return False
        values = value if isinstance(value, list) else [value]
        return any(_operator_matches(name, operand, each) for each in values)
    if not present:
        return False
    values = value if isinstance(value, list) else [value]
    return any(each == rule and type(each) is type(rule) for each in values)


def _operator_matches(name: str, operand: Any, value: Any) -> bool:
    if name == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if name == "suffix":
        return isinstance(value, str) and value.endswith(operand)
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(operand).casefold()
    if name == "anything-but":
        excluded = operand if isinstance(operand, list) else [operand]
        return value not in excluded
    if name == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        pairs = list(zip(operand[::2], operand[1::2], strict=True))
        return all(_COMPARISONS[op](value, float(limit)) for op, limit in pairs)
    raise tpl.TemplateError(f"filter operator {name!r} is not emulated locally")


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


# delivery --------------------------------------------------------------------------------------


class ShardDelivery:
    """Lambda's delivery rules for the records of one shard, in order.

    A batch that raises is retried whole, or bisected when the mapping says so; a partial batch
    response checkpoints the records before the first reported failure and retries the rest. After
    the retries, the batch's description goes to the on-failure destination and delivery moves on.
    """

    def __init__(
        self,
        mapping: StreamMapping,
        invoke: Invoke,
        *,
        stream_arn: str,
        shard_id: str,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.mapping = mapping
        self.invoke = invoke
        self.stream_arn = stream_arn
        self.shard_id = shard_id
        self.on_failure = on_failure
        self.invocations = 0

    def deliver(self, records: Sequence[StreamRecord]) -> None:
        """Deliver `records` (already filtered) until each is done or sent to the destination."""
        pending = list(records)
        while pending:
            batch, pending = pending[: self.mapping.batch_size], pending[self.mapping.batch_size :]
            self._deliver_batch(batch, attempts=0)

    def _deliver_batch(self, batch: list[StreamRecord], *, attempts: int) -> None:
        while batch:
            failed_from = self._invoke(batch)
            if failed_from is None:
                return
            attempts += 1
            if failed_from > 0:  # a partial batch response: the records before it are done
                batch = batch[failed_from:]
                if self._retries_left(attempts):
                    continue
            elif self.mapping.bisect and len(batch) > 1 and self._retries_left(attempts):
                middle = len(batch) // 2
                self._deliver_batch(batch[:middle], attempts=attempts)
                self._deliver_batch(batch[middle:], attempts=attempts)
                return
            if not self._retries_left(attempts):
                self._send_to_destination(batch, attempts)
                return

    def _retries_left(self, attempts: int) -> bool:
        return self.mapping.max_retries < 0 or attempts <= self.mapping.max_retries

    def _invoke(self, batch: list[StreamRecord]) -> int | None:
        """None when the batch is done, else the index of the first record to deliver again."""
        self.invocations += 1
        try:
            answer = self.invoke({"Records": batch})
        except Exception:  # noqa: BLE001 - a function error: Lambda retries the batch
            return 0
        if not self.mapping.partial_batch_responses:
            return None
        failures = (answer or {}).get("batchItemFailures") or []
        if not failures:
            return None
        sequences = [record["dynamodb"]["SequenceNumber"] for record in batch]
        reported = [str(failure.get("itemIdentifier")) for failure in failures]
        if any(identifier not in sequences for identifier in reported):
            return 0  # Lambda treats an unknown identifier as a failure of the whole batch
        return min(sequences.index(identifier) for identifier in reported)

    def _send_to_destination(self, batch: list[StreamRecord], attempts: int) -> None:
        if self.on_failure is None:
            return
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        self.on_failure(
            {
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": self.mapping.function,
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": attempts,
                },
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "version": "1.0",
                "timestamp": datetime.now(UTC).isoformat(),
                "DDBStreamBatchInfo": {
                    "shardId": self.shard_id,
                    "startSequenceNumber": first["SequenceNumber"],
                    "endSequenceNumber": last["SequenceNumber"],
                    "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
                    "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
                    "batchSize": len(batch),
                    "streamArn": self.stream_arn,
                },
            }
        )


# polling ---------------------------------------------------------------------------------------


class StreamPoller:
    """Polls one table's stream and delivers what passes the mapping's filter, in batches."""

    def __init__(
        self,
        mapping: StreamMapping,
        streams: Any,
        stream_arn: str,
        invoke: Invoke,
        *,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.mapping = mapping
        self.streams = streams
        self.stream_arn = stream_arn
        self.invoke = invoke
        self.on_failure = on_failure
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"stream-poller-{self.mapping.function}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Poll no more (the stack asks every poller first, then waits for each: in parallel)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        shard_id = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        delivery = ShardDelivery(
            self.mapping, self.invoke, stream_arn=self.stream_arn, shard_id=shard_id, on_failure=self.on_failure
        )
        iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        batch: list[StreamRecord] = []
        opened = 0.0  # when the batching window of `batch` started
        while not self._stop.is_set():
            try:
                answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            except Exception:  # noqa: BLE001 - the emulation is stopping, or briefly busy: poll again
                if self._stop.wait(POLL_SECONDS):
                    return
                continue
            iterator = answer["NextShardIterator"]
            for record in answer.get("Records", []):
                lambda_record = lambda_shape(record, self.stream_arn)
                if self.mapping.passes(lambda_record):
                    if not batch:
                        opened = time.monotonic()
                    batch.append(lambda_record)
            full = len(batch) >= self.mapping.batch_size
            if batch and (full or time.monotonic() - opened >= self.mapping.window_seconds):
                try:
                    delivery.deliver(batch)
                except Exception:  # noqa: BLE001 - e.g. the queue unreachable: say so, keep polling
                    print(f"[{self.mapping.function}] a batch could not be delivered:", file=sys.stderr)
                    traceback.print_exc()
                batch = []
            elif not answer.get("Records"):
                self._stop.wait(POLL_SECONDS)


def start_stream_pollers(
    template: dict[str, Any],
    refs: dict[str, str],
    attrs: dict[tuple[str, str], str],
    clients: Callable[[str], Any],
    invoke: Callable[[str, dict[str, Any]], dict[str, Any] | None],
) -> list[StreamPoller]:
    """A running poller for each stream mapping of the template; `invoke(function, event)` runs
    the function in its container pool, `clients(service)` makes the emulation's clients."""
    streams, sqs = clients("dynamodbstreams"), clients("sqs")
    pollers = []
    for mapping in stream_mappings(template):
        queue_url = refs.get(mapping.on_failure) if mapping.on_failure else None

        def send(message: dict[str, Any], url: str | None = queue_url) -> None:
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))

        poller = StreamPoller(
            mapping,
            streams,
            attrs[(mapping.table, "StreamArn")],
            functools.partial(invoke, mapping.function),
            on_failure=send if queue_url else None,
        )
        poller.start()
        pollers.append(poller)
    return pollers


def batch_records(streams: Any, info: dict[str, Any]) -> list[StreamRecord]:
    """The records of one failed batch, read back from the stream by the on-failure message's
    `DDBStreamBatchInfo` (shard, first and last sequence numbers), in Lambda's shape."""
    stream_arn, last = info["streamArn"], int(info["endSequenceNumber"])
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn,
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    records: list[StreamRecord] = []
    while iterator:
        answer = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in answer.get("Records", []):
            if int(record["dynamodb"]["SequenceNumber"]) > last:
                return records
            records.append(lambda_shape(record, stream_arn))
        if not answer.get("Records"):
            return records
        iterator = answer.get("NextShardIterator")
    return records


def lambda_shape(record: StreamRecord, stream_arn: str) -> StreamRecord:
    """A stream record as Lambda hands it to the function (JSON-ready: epoch-second timestamps)."""
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        body["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": body, "eventSourceARN": stream_arn}


def _iso(epoch_seconds: Any) -> str | None:
    if isinstance(epoch_seconds, (int, float)):
        return datetime.fromtimestamp(epoch_seconds, UTC).isoformat()
    return None


def _logical_id(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return None
