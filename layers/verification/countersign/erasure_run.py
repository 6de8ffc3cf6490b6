"""The erasure processor (SPEC 9): carry out queued erasures, one at a time per application, with proof.

    queue (oldest first) -> per application its oldest erasure -> running
      -> DataTable: delete its sessions, events and receipts
      -> landing: rewrite each object holding its lines without them (delete it if nothing is left)
      -> tables: delete its rows from `events` and `sessions`, expire the older snapshots and
         delete every file only they referenced (`countersign.tables.erasure`; where the function
         has the tables: TABLES_CATALOG)
      -> verification: every store searched again; completed only when nothing remains

The erasure's marker (`store.erasures`, ERASED#) keeps export, backfill and the fold from writing
the subject again while this runs; on completion it is bounded to the data received before the
verification started (`through_ms`), so a subject who comes back later (not suppressed) is new data.

An erasure that finds something left after its verification stays `running` and is taken again by
the next run; after MAX_ATTEMPTS runs it is `failed` (the alarm on erasures past their deadline
fires for it either way). Nothing here logs a subject's id.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from countersign import clock
from countersign.errors import ApiError
from countersign.observability import logger, metrics
from countersign.store.data import data_store
from countersign.store.erasures import ErasureRecord, SubjectKind, erasure_store
from countersign.store.lake_objects import LakeObjects, lake_objects
from countersign.subjects import open_subject

MAX_ATTEMPTS = 10
_READ_THREADS = 16


@dataclass(frozen=True)
class Subject:
    """Whom an erasure is about, opened for the processor only (never stored or logged in clear)."""

    app_id: str
    kind: SubjectKind
    subject_id: str

    def holds(self, record: dict[str, Any]) -> bool:
        """Whether a lake record (event or session line) is this subject's."""
        if record.get("appId") != self.app_id:
            return False
        return record.get("visitorId" if self.kind == "visitor" else "accountId") == self.subject_id


@dataclass
class StoreReport:
    """One store's part of the proof: what was removed, and what a verification pass still found."""

    removed: dict[str, int] = field(default_factory=dict)
    remaining: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"removed": self.removed, "remaining": self.remaining}


#: A store that holds the subject's data, as the processor erases it: erase(subject) -> what it
#: removed; count(subject) -> what a verification pass still finds.
@dataclass(frozen=True)
class StoreStep:
    name: str
    erase: Callable[[Subject], dict[str, int]]
    count: Callable[[Subject], int]


@dataclass
class RunReport:
    processed: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    past_deadline: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"processed": self.processed, "completed": self.completed, "pastDeadline": self.past_deadline}


def run_queue(*, now: Callable[[], float] = time.time) -> RunReport:
    """One scheduled run: each application's oldest queued erasure, one after another."""
    store = erasure_store()
    report = RunReport()
    taken: set[str] = set()
    for app_id, erasure_id in store.queued():
        record = store.get(app_id, erasure_id)
        if record is None or app_id in taken:
            continue
        taken.add(app_id)  # one at a time per application: its next erasure waits for the next run
        if record.status in ("pending", "running"):
            report.processed.append(erasure_id)
            if process(record, now=now):
                report.completed.append(erasure_id)
    report.past_deadline = sum(
        1
        for app_id, erasure_id in store.queued()
        if (record := store.get(app_id, erasure_id)) is not None
        and clock.parse_iso(record.deadline).timestamp() < now()
    )
    metrics.add_metric(name="ErasuresProcessed", unit=MetricUnit.Count, value=len(report.processed))
    metrics.add_metric(name="ErasuresCompleted", unit=MetricUnit.Count, value=len(report.completed))
    metrics.add_metric(name="ErasuresPastDeadline", unit=MetricUnit.Count, value=report.past_deadline)
    logger.info(
        "erasures run",
        extra={"processed": report.processed, "completed": report.completed, "past_deadline": report.past_deadline},
    )
    return report


def process(record: ErasureRecord, *, now: Callable[[], float] = time.time) -> bool:
    """Erase one subject everywhere and verify; True when the erasure completed."""
    store = erasure_store()
    if record.sealed_subject is None:
        record.status, record.last_error = "failed", "The subject of this erasure cannot be read."
        store.save(record)
        return False
    subject = Subject(record.app_id, record.kind, open_subject(record.app_id, record.erasure_id, record.sealed_subject))
    record.status, record.attempts = "running", record.attempts + 1
    store.save(record)
    try:
        reports = {step.name: StoreReport(removed=step.erase(subject)) for step in store_steps()}
        through_ms = int(now() * 1000)  # everything received before the verification is erased
        for step in store_steps():
            reports[step.name].remaining = step.count(subject)
    except ApiError as error:  # a dependency failed: the next run takes it again
        record.last_error = f"{error.code}: {error.message}"
        record.status = "failed" if record.attempts >= MAX_ATTEMPTS else "running"
        store.save(record)
        logger.warning("erasure interrupted", extra={"erasure_id": record.erasure_id, "error_code": error.code})
        return False
    record.stores = _merged(record.stores, reports)
    if any(report.remaining for report in reports.values()):
        record.status = "failed" if record.attempts >= MAX_ATTEMPTS else "running"
        record.last_error = "A verification pass still found the subject's data; the next run erases it again."
        store.save(record)
        return False
    record.status, record.completed_at, record.last_error = "completed", clock.now_iso(), None
    store.complete(record, through_ms=through_ms, requested_ms=_requested_ms(record))
    logger.info("erasure completed", extra={"erasure_id": record.erasure_id, "app_id": record.app_id})
    return True


def store_steps() -> list[StoreStep]:
    """The stores an erasure covers, in order: the tables last, so that the landing objects the
    fold reads no longer hold the subject when its rows go."""
    steps = [
        StoreStep("dataTable", _erase_data_table, _count_data_table),
        StoreStep("landing", lambda subject: _erase_landing(subject, lake_objects()), _count_landing),
    ]
    if os.environ.get("TABLES_CATALOG"):  # the function carries the tables layer (template.yaml)
        steps.append(StoreStep("tables", _erase_tables, _count_tables))
    return steps


# the Iceberg tables ----------------------------------------------------------------------------


def _erase_tables(subject: Subject) -> dict[str, int]:
    from countersign.tables import erasure as tables  # pyiceberg: only this function loads it

    return tables.erase(subject.app_id, subject.kind, subject.subject_id)


def _count_tables(subject: Subject) -> int:
    from countersign.tables import erasure as tables

    return tables.count(subject.app_id, subject.kind, subject.subject_id)


# DataTable -------------------------------------------------------------------------------------


def _erase_data_table(subject: Subject) -> dict[str, int]:
    data = data_store()
    found = data.subject_items(subject.app_id, subject.kind, subject.subject_id)
    # Events and receipts first: a session left for last still lets a retry find what is left.
    data.delete_items(found.events + found.receipts)
    data.delete_items(found.sessions)
    return {"sessions": len(found.sessions), "events": len(found.events), "receipts": len(found.receipts)}


def _count_data_table(subject: Subject) -> int:
    return data_store().subject_items(subject.app_id, subject.kind, subject.subject_id).count


# landing ---------------------------------------------------------------------------------------


def _erase_landing(subject: Subject, lake: LakeObjects) -> dict[str, int]:
    """Rewrite only the objects that hold the subject's lines (every object is read once)."""
    removed = {"lines": 0, "objectsRewritten": 0, "objectsDeleted": 0}

    def erase(key: str) -> tuple[int, bool] | None:
        records = lake.read(key)
        kept = [record for record in records if not subject.holds(record)]
        if len(kept) == len(records):
            return None
        lake.rewrite(key, kept)
        return len(records) - len(kept), not kept

    for result in _each_object(subject.app_id, lake, erase):
        if result is None:
            continue
        lines, deleted = result
        removed["lines"] += lines
        removed["objectsDeleted" if deleted else "objectsRewritten"] += 1
    return removed


def _count_landing(subject: Subject) -> int:
    lake = lake_objects()
    counts: list[int] = _each_object(
        subject.app_id, lake, lambda key: sum(1 for record in lake.read(key) if subject.holds(record))
    )
    return sum(counts)


def _each_object(app_id: str, lake: LakeObjects, work: Callable[[str], Any]) -> list[Any]:
    keys = lake.app_object_keys(app_id)
    with ThreadPoolExecutor(max_workers=_READ_THREADS, thread_name_prefix="erasure-lake") as pool:
        return list(pool.map(work, keys))


# helpers ---------------------------------------------------------------------------------------


def _merged(previous: dict[str, Any], reports: dict[str, StoreReport]) -> dict[str, Any]:
    """This run's reports; what an earlier run of the same erasure removed is added in."""
    merged: dict[str, Any] = {}
    for name, report in reports.items():
        before = (previous.get(name) or {}).get("removed") or {}
        removed = {key: value + int(before.get(key, 0)) for key, value in report.removed.items()}
        merged[name] = StoreReport(removed, report.remaining).to_json()
    return merged


def _requested_ms(record: ErasureRecord) -> int:
    return int(record.erasure_id.split("_")[1])
