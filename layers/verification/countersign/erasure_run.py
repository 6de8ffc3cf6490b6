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
the next run. After MAX_ATTEMPTS runs without progress (a verification that still finds data, a
failing dependency, a run that dies before saving any) it is `failed`, and a new request for its
subject queues a new one (the alarm on erasures past their deadline fires for it either way).
Nothing here logs a subject's id.

A run starts no new piece of work (a store's step, a chunk of landing objects) with less than
clock.SAFETY_MS of its invocation left: it saves where its pass stands in the record (`Pass`: the
store, the last landing key done, what was removed and found so far) and the next run goes on from
there, so an application with more landing objects than one run can read still has its erasure
completed. A run that stopped for time made progress: it does not count as an attempt.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit

from countersign import clock
from countersign.errors import ApiError
from countersign.observability import logger, metrics
from countersign.store.data import data_store
from countersign.store.erasures import ErasureRecord, SubjectKind, erasure_store
from countersign.store.lake_objects import LakeObjects, lake_objects
from countersign.subjects import open_subject

MAX_ATTEMPTS = 10
#: Landing objects read (and rewritten) between two looks at the clock.
LANDING_CHUNK = 256
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


class OutOfTime(Exception):
    """Less than clock.SAFETY_MS of the invocation is left: the pass is saved for the next run."""


@dataclass
class Pass:
    """Where an erasure's pass stands: `erase` then `verify`, store by store in `store_steps()`
    order; within the landing store, the last object key done. Saved in the record when a run
    stops for time or on a failing dependency, so that the next run goes on from there."""

    phase: Literal["erase", "verify"] = "erase"
    store: str = "dataTable"
    after: str | None = None  # the landing object last done, in key order
    removed: dict[str, dict[str, int]] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    verify_from_ms: int | None = None  # when the verification started: the erased data's bound

    @classmethod
    def resume(cls, progress: dict[str, Any], stores: list[str]) -> Pass:
        """The pass saved in `progress`, or a new one when there is none or it names a store this
        function no longer has (a pass must never stop the erasure from going on)."""
        known = {name: value for name, value in progress.items() if name in cls.__dataclass_fields__}
        try:
            saved = cls(**known)
        except TypeError:
            return cls()
        return saved if saved.phase in ("erase", "verify") and saved.store in stores else cls()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Cursor:
    """One store's part of a pass: what it has removed or found so far, where it stands, and the
    run's clock (`passed` saves a landing position and stops the run when its time is nearly up)."""

    run: Pass
    keep_going: Callable[[], bool]
    save: Callable[[], None]  # keeps the pass in the record: a run that dies goes on from here

    def removed(self, counts: dict[str, int]) -> None:
        totals = self.run.removed.setdefault(self.run.store, {})
        for name, value in counts.items():
            totals[name] = totals.get(name, 0) + value

    def found(self, count: int) -> None:
        self.run.remaining[self.run.store] = self.run.remaining.get(self.run.store, 0) + count

    @property
    def after(self) -> str | None:
        return self.run.after

    def passed(self, key: str) -> None:
        self.run.after = key
        self.save()
        if not self.keep_going():
            raise OutOfTime


#: A store that holds the subject's data, as the processor erases it: erase(subject, cursor) adds
#: what it removed; count(subject, cursor) adds what a verification pass still finds.
@dataclass(frozen=True)
class StoreStep:
    name: str
    erase: Callable[[Subject, Cursor], None]
    count: Callable[[Subject, Cursor], None]


@dataclass
class RunReport:
    processed: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    past_deadline: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"processed": self.processed, "completed": self.completed, "pastDeadline": self.past_deadline}


def run_queue(time_left_ms: Callable[[], int] | None = None, *, now: Callable[[], float] = time.time) -> RunReport:
    """One scheduled run: each application's oldest queued erasure, one after another, while
    `time_left_ms` (the invocation's remaining time) leaves room for more work."""
    keep_going = clock.time_to_go_on(time_left_ms)
    store = erasure_store()
    report = RunReport()
    taken: set[str] = set()
    for app_id, erasure_id in store.queued():
        if not keep_going():
            break  # the next run takes the rest of the queue
        record = store.get(app_id, erasure_id)
        if record is None or app_id in taken:
            continue
        taken.add(app_id)  # one at a time per application: its next erasure waits for the next run
        if record.status in ("pending", "running"):
            report.processed.append(erasure_id)
            if process(record, now=now, keep_going=keep_going):
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


def process(
    record: ErasureRecord, *, now: Callable[[], float] = time.time, keep_going: Callable[[], bool] = lambda: True
) -> bool:
    """Erase one subject everywhere and verify, going on from where an earlier run stopped; True
    when the erasure completed.

    `attempts` counts the runs that made no progress: a run is counted when it starts and uncounted
    as soon as it saves progress (a finished step, a chunk of landing objects). So a run that keeps
    dying at the same point (a timeout, a crash) fails the erasure after MAX_ATTEMPTS runs, while a
    long pass that moves on every run never does."""
    store = erasure_store()
    if record.sealed_subject is None:
        record.status, record.last_error = "failed", "The subject of this erasure cannot be read."
        store.save(record)
        return False
    if record.attempts >= MAX_ATTEMPTS:  # runs that ended without progress: timeouts, crashes
        record.status = "failed"
        record.last_error = record.last_error or f"{MAX_ATTEMPTS} runs ended without progress: see the function's logs."
        store.save(record)
        return False
    subject = Subject(record.app_id, record.kind, open_subject(record.app_id, record.erasure_id, record.sealed_subject))
    before = record.attempts
    record.status, record.attempts = "running", before + 1
    store.save(record)
    run = Pass.resume(record.progress, [step.name for step in store_steps()])

    def save() -> None:
        record.progress, record.attempts = run.to_json(), before
        store.save(record)

    try:
        _go_on(run, subject, now=now, keep_going=keep_going, save=save)
    except OutOfTime:
        save()  # progress, not a failure: the next run goes on from here
        logger.info("erasure goes on in the next run", extra={"erasure_id": record.erasure_id, "phase": run.phase})
        return False
    except ApiError as error:  # a dependency failed: the next run goes on from where this one stood
        record.progress, record.attempts = run.to_json(), before + 1
        record.last_error = f"{error.code}: {error.message}"
        record.status = "failed" if record.attempts >= MAX_ATTEMPTS else "running"
        store.save(record)
        logger.warning("erasure interrupted", extra={"erasure_id": record.erasure_id, "error_code": error.code})
        return False
    reports = {
        step.name: StoreReport(run.removed.get(step.name, {}), run.remaining.get(step.name, 0))
        for step in store_steps()
    }
    record.stores, record.progress, record.attempts = _merged(record.stores, reports), {}, before + 1
    if any(report.remaining for report in reports.values()):
        record.status = "failed" if record.attempts >= MAX_ATTEMPTS else "running"
        record.last_error = "A verification pass still found the subject's data; the next run erases it again."
        store.save(record)
        return False
    record.status, record.completed_at, record.last_error = "completed", clock.now_iso(), None
    through_ms = run.verify_from_ms if run.verify_from_ms is not None else int(now() * 1000)
    store.complete(record, through_ms=through_ms)
    logger.info("erasure completed", extra={"erasure_id": record.erasure_id, "app_id": record.app_id})
    return True


def _go_on(
    run: Pass,
    subject: Subject,
    *,
    now: Callable[[], float],
    keep_going: Callable[[], bool],
    save: Callable[[], None],
) -> None:
    """Carry `run` to the end of its verification, saving it after each piece of work; OutOfTime
    when the run's time is nearly up."""
    steps = store_steps()
    names = [step.name for step in steps]
    while True:
        if not keep_going():
            raise OutOfTime
        if run.phase == "verify" and run.verify_from_ms is None:
            run.verify_from_ms = int(now() * 1000)  # everything received before it is erased
        step = steps[names.index(run.store)]
        (step.erase if run.phase == "erase" else step.count)(subject, Cursor(run, keep_going, save))
        run.after = None
        if step is not steps[-1]:
            run.store = names[names.index(run.store) + 1]
        elif run.phase == "erase":
            run.phase, run.store = "verify", names[0]
        else:
            return
        save()


def store_steps() -> list[StoreStep]:
    """The stores an erasure covers, in order: the tables last, so that the landing objects the
    fold reads no longer hold the subject when its rows go."""
    steps = [
        StoreStep("dataTable", _erase_data_table, _count_data_table),
        StoreStep(
            "landing",
            lambda subject, cursor: _erase_landing(subject, cursor, lake_objects()),
            lambda subject, cursor: _count_landing(subject, cursor, lake_objects()),
        ),
    ]
    if os.environ.get("TABLES_CATALOG"):  # the function carries the tables layer (template.yaml)
        steps.append(StoreStep("tables", _erase_tables, _count_tables))
    return steps


# the Iceberg tables ----------------------------------------------------------------------------


def _erase_tables(subject: Subject, cursor: Cursor) -> None:
    from countersign.tables import erasure as tables  # pyiceberg: only this function loads it

    def table_done(removed: dict[str, int]) -> None:
        cursor.removed(removed)
        cursor.save()  # a run that fails on the next table has counted this one's rows once

    cursor.removed({"events": 0, "sessions": 0, "filesDeleted": 0})
    tables.erase(subject.app_id, subject.kind, subject.subject_id, each=table_done)


def _count_tables(subject: Subject, cursor: Cursor) -> None:
    from countersign.tables import erasure as tables

    cursor.found(tables.count(subject.app_id, subject.kind, subject.subject_id))


# DataTable -------------------------------------------------------------------------------------


def _erase_data_table(subject: Subject, cursor: Cursor) -> None:
    data = data_store()
    found = data.subject_items(subject.app_id, subject.kind, subject.subject_id)
    # Events and receipts first: a session left for last still lets a retry find what is left.
    data.delete_items(found.events + found.receipts)
    data.delete_items(found.sessions)
    cursor.removed({"sessions": len(found.sessions), "events": len(found.events), "receipts": len(found.receipts)})


def _count_data_table(subject: Subject, cursor: Cursor) -> None:
    cursor.found(data_store().subject_items(subject.app_id, subject.kind, subject.subject_id).count)


# landing ---------------------------------------------------------------------------------------


def _erase_landing(subject: Subject, cursor: Cursor, lake: LakeObjects) -> None:
    """Rewrite only the objects that hold the subject's lines (every object is read once)."""

    def erase(key: str) -> dict[str, int]:
        records = lake.read(key)
        kept = [record for record in records if not subject.holds(record)]
        if len(kept) == len(records):
            return {}
        lake.rewrite(key, kept)
        return {"lines": len(records) - len(kept), "objectsDeleted" if not kept else "objectsRewritten": 1}

    # Every counter is reported, zeros included: the proof says what was looked at. An object
    # rewritten in a chunk that then failed is counted too: the next run finds it clean.
    cursor.removed({"lines": 0, "objectsRewritten": 0, "objectsDeleted": 0})
    _each_object(subject.app_id, lake, erase, cursor, cursor.removed, count_a_failed_chunk=True)


def _count_landing(subject: Subject, cursor: Cursor, lake: LakeObjects) -> None:
    def count(key: str) -> int:
        return sum(1 for record in lake.read(key) if subject.holds(record))

    # A failed chunk counts nothing: the next run counts it again from its start.
    _each_object(subject.app_id, lake, count, cursor, cursor.found, count_a_failed_chunk=False)


def _each_object(
    app_id: str,
    lake: LakeObjects,
    work: Callable[[str], Any],
    cursor: Cursor,
    tally: Callable[[Any], None],
    *,
    count_a_failed_chunk: bool,
) -> None:
    """`work` on each landing object of the application after the cursor's, in key order, a chunk
    at a time, each result to `tally`; the cursor passes each chunk's last key (which saves the
    pass, and stops the run when its time is nearly up). A chunk where `work` failed raises its
    first error once every object of the chunk is done, tallied only if `count_a_failed_chunk`."""
    keys = lake.app_object_keys(app_id, after=cursor.after)  # listed as the chunks ask for them
    with ThreadPoolExecutor(max_workers=_READ_THREADS, thread_name_prefix="erasure-lake") as pool:
        while chunk := list(islice(keys, LANDING_CHUNK)):
            futures = [pool.submit(work, key) for key in chunk]
            wait(futures)
            failures = [error for future in futures if (error := future.exception()) is not None]
            for future in futures:
                if future.exception() is None and (count_a_failed_chunk or not failures):
                    tally(future.result())
            if failures:
                raise failures[0]
            cursor.passed(chunk[-1])


# helpers ---------------------------------------------------------------------------------------


def _merged(previous: dict[str, Any], reports: dict[str, StoreReport]) -> dict[str, Any]:
    """This run's reports; what an earlier run of the same erasure removed is added in."""
    merged: dict[str, Any] = {}
    for name, report in reports.items():
        before = (previous.get(name) or {}).get("removed") or {}
        removed = {key: value + int(before.get(key, 0)) for key, value in report.removed.items()}
        merged[name] = StoreReport(removed, report.remaining).to_json()
    return merged
