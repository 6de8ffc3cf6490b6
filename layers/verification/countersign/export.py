"""Deliver one batch of DataTable stream records to the lake, exactly once (SPEC 6).

    stream records -> lake lines -> one group per partition (kind, app, dt) -> one object each

Lambda may deliver a record more than once: the whole batch again after a failure, a bisected
half, or everything from a reported failure on (batch boundaries then differ from the first
attempt). So a group never trusts that it is new. It lists the partition's objects that can
overlap it (named by the stream sequence numbers of their last and first line, one listing from
the group's first record on), reads those whose range overlaps, and writes only the lines none of
them holds, as one object named by its own first and last sequence numbers and a digest of its lines. A delivery that
finds everything written writes nothing; a delivery of the same records with the same outcome
writes the same name with the same bytes. Reading an overlapping object is what makes this hold
whatever the shard: objects of other shards may overlap in sequence numbers, never in lines.

One batch per shard is in flight at a time (the mapping's ParallelizationFactor is 1), so no
other writer adds lines of these records between the listing and the write.

Erased subjects (SPEC 9): a line of a subject whose erasure is running, or of data it already
erased, is never written, whatever delivery carries it (a stream retry, a redrive). The erased
subjects are read for each batch, not cached, so a retry after an erasure sees it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from countersign.errors import DependencyUnavailable
from countersign.lake import LakeLine, ObjectName, Partition, encode_object, lake_line, object_name
from countersign.observability import logger, metrics
from countersign.store.lake_objects import LakeObjects
from countersign.subjects import ErasedFilter, erased_filter

_GROUP_THREADS = 8


@dataclass
class BatchOutcome:
    """What one delivery did, and where Lambda must retry from if anything failed."""

    lines: int = 0  # lake lines in the batch
    written: list[str] = field(default_factory=list)  # object keys written by this delivery
    already_exported: int = 0  # lines an earlier delivery had written
    retry_from: str | None = None  # sequence number of the first record to deliver again
    lines_written: int = 0  # lines in the objects this delivery wrote
    erased: int = 0  # lines of erased subjects, never written

    def batch_item_failures(self) -> dict[str, Any]:
        """Lambda's partial batch response: records before `retry_from` are done."""
        failures = [{"itemIdentifier": self.retry_from}] if self.retry_from is not None else []
        return {"batchItemFailures": failures}


@dataclass(frozen=True)
class _GroupResult:
    partition: Partition
    first_sequence: int
    key: str | None = None
    lines_written: int = 0
    already_exported: int = 0
    failed: bool = False


def deliver(records: list[dict[str, Any]], lake: LakeObjects) -> dict[str, Any]:
    """The export function's answer to one batch (Lambda's partial batch response), counted and logged."""
    outcome = export_batch(records, lake)
    metrics.add_metric(name="LakeLinesWritten", unit=MetricUnit.Count, value=outcome.lines_written)
    metrics.add_metric(name="LakeLinesAlreadyExported", unit=MetricUnit.Count, value=outcome.already_exported)
    metrics.add_metric(name="LakeObjectsWritten", unit=MetricUnit.Count, value=len(outcome.written))
    metrics.add_metric(name="LakeLinesErased", unit=MetricUnit.Count, value=outcome.erased)
    logger.info(
        "batch exported" if outcome.retry_from is None else "batch partly exported: retry",
        extra={
            "records": len(records),
            "objects": outcome.written,
            "already_exported": outcome.already_exported,
            "erased": outcome.erased,
            "retry_from": outcome.retry_from,
        },
    )
    return outcome.batch_item_failures()


def export_batch(records: Iterable[dict[str, Any]], lake: LakeObjects) -> BatchOutcome:
    """Write every lake line of `records` that no earlier delivery wrote; report what failed."""
    groups: dict[Partition, list[LakeLine]] = defaultdict(list)
    outcome = BatchOutcome()
    erased: dict[str, ErasedFilter] = {}
    for record in records:
        line = lake_line(record)
        if line is None:
            continue
        outcome.lines += 1
        if line.app_id not in erased:  # a failure here is a 503 of the whole batch: Lambda retries it
            erased[line.app_id] = erased_filter(line.app_id)
        if erased[line.app_id](line.record["visitorId"], line.record["accountId"], line.received_ms):
            outcome.erased += 1
            continue
        groups[line.partition].append(line)
    # Every group is awaited before answering, even when one raised: Lambda freezes the container
    # once the handler returns, and a write still in flight would land during a later delivery.
    futures = [
        _group_pool().submit(_export_group, partition, lines, lake) for partition, lines in sorted(groups.items())
    ]
    results: list[_GroupResult] = []
    crash: BaseException | None = None
    for future in futures:
        try:
            results.append(future.result())
        except Exception as error:  # noqa: BLE001 - re-raised once all groups are done
            crash = crash or error
    if crash is not None:
        raise crash
    failed = [result.first_sequence for result in results if result.failed]
    for result in results:
        outcome.already_exported += result.already_exported
        outcome.lines_written += result.lines_written
        if result.key is not None:
            outcome.written.append(result.key)
    if failed:
        # Every record before the first line of the first failed group belongs to a written group.
        outcome.retry_from = str(min(failed))
    return outcome


def _export_group(partition: Partition, lines: list[LakeLine], lake: LakeObjects) -> _GroupResult:
    first = min(line.sequence for line in lines)
    try:
        written = _lines_already_written(partition, lines, lake)
        remaining = [line for line in lines if line.identity not in written]
        if not remaining:
            return _GroupResult(partition, first, already_exported=len(lines))
        name = object_name(partition, remaining)
        lake.put(name, encode_object(remaining))
    except DependencyUnavailable:
        return _GroupResult(partition, first, failed=True)
    return _GroupResult(
        partition, first, key=name.key, lines_written=len(remaining), already_exported=len(lines) - len(remaining)
    )


def _lines_already_written(partition: Partition, lines: list[LakeLine], lake: LakeObjects) -> set[str]:
    first = min(line.sequence for line in lines)
    last = max(line.sequence for line in lines)
    overlapping: list[ObjectName] = [name for name in lake.ending_at_or_after(partition, first) if name.first <= last]
    written: set[str] = set()
    for name in overlapping:
        written |= lake.identities(name)
    return written


@lru_cache(maxsize=1)
def _group_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_GROUP_THREADS, thread_name_prefix="lake-writer")
