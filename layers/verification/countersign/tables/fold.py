"""Fold new landing objects into a table, exactly once (SPEC 6.2).

    open the table -> the ledger in force (ledger.py) -> list the landing days the fold watches
    -> objects no ledger names -> their lines as rows -> Parquet data files
    -> new ledger files for the days touched -> ONE commit: the data files + the summary naming
       the new ledger files

Every step before the commit can be repeated: what the table holds changes only when the commit
lands, and the commit names what it folded. So:
- a crash after the data files are written and before the commit leaves unreferenced files (the
  next run folds the same objects again into new files; maintenance deletes the old ones);
- a commit whose answer was lost did land: the next run reads its ledger and folds nothing twice;
- a second run started while one is in flight plans from the same snapshot; whichever commits
  second is refused (CommitFailedException: the tables never let the library replay a commit on
  top of another, catalog.py), deletes its own files, and plans again from the new snapshot;
- a retried run is just another run.

Erased subjects (SPEC 9): a line of a subject an erasure removed (or is removing) is never a row,
whichever landing object still holds it; the erased subjects are read for every commit.

Which days are listed: every landing day from the window start on. A commit that folded all it
found moves the window start to the day of (its listing time - LOOKBACK), because the export
writes an object at most a day after the data was received (a stream record lives 24 hours, and
a redriven batch keeps its `dt`); `lake backfill` folds the older days it writes into by naming
them. A table without a ledger (new) lists every landing day, so upgrading a stack folds the
landing history in commits of at most `max_commit_bytes` each.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from countersign import clock
from countersign.lake import Kind, Partition, decode_object, parse_object_key
from countersign.observability import logger
from countersign.store.lake_objects import LakeObjects, LandingObject
from countersign.subjects import ErasedFilter, erased_filter, record_erased
from countersign.tables import ledger as ledgers
from countersign.tables.columns import BadLine, row

#: How far behind its listing time a landing object can still be written (stream retention 24 h,
#: plus two hours for clocks and in-flight batches).
LOOKBACK = timedelta(hours=26)
#: Landing bytes (gzip) one commit folds at most: about 1.3 million lines, within the function's
#: memory (docs/cost-and-scale.md, "The tables"); more waits for the next commit.
MAX_COMMIT_BYTES = 96 * 1024 * 1024
#: A run that meets concurrent commits plans again at most this many times, then fails (retried).
CONFLICT_ATTEMPTS = 4
_READ_THREADS = 16


@dataclass(frozen=True)
class FoldLimits:
    max_commit_bytes: int = MAX_COMMIT_BYTES
    #: Ledger files of landing days older than this many days are dropped from the summary (the
    #: landing retention of folded objects, plus two days): maintenance has deleted those objects.
    ledger_days: int = 32


@dataclass
class CommitOutcome:
    """What one fold commit did."""

    kind: Kind
    objects: int = 0
    lines: int = 0
    refused: list[str] = field(default_factory=list)  # objects with a line that cannot be a row
    conflicts: int = 0  # plans thrown away because another writer committed first
    remaining: int = 0  # candidates left for the next commit
    snapshot_id: int | None = None


@dataclass
class _Plan:
    table: Table
    ledger: ledgers.Ledger
    listed_at: datetime
    candidates: list[LandingObject]


def fold(
    kind: Kind,
    open_table: Callable[[], Table],
    lake: LakeObjects,
    *,
    limits: FoldLimits = FoldLimits(),
    now: Callable[[], datetime] = clock.now,
    keep_going: Callable[[], bool] = lambda: False,
    extra_days: Iterable[str] = (),
    run_id: str | None = None,
) -> list[CommitOutcome]:
    """Fold what is new into `kind`'s table: one commit, then more while `keep_going()` says so."""
    run = run_id or str(uuid.uuid4())
    outcomes = [fold_once(kind, open_table, lake, limits=limits, now=now, extra_days=extra_days, run_id=run)]
    while outcomes[-1].remaining and keep_going():
        outcomes.append(fold_once(kind, open_table, lake, limits=limits, now=now, extra_days=extra_days, run_id=run))
    return outcomes


def fold_once(
    kind: Kind,
    open_table: Callable[[], Table],
    lake: LakeObjects,
    *,
    limits: FoldLimits = FoldLimits(),
    now: Callable[[], datetime] = clock.now,
    extra_days: Iterable[str] = (),
    run_id: str = "",
) -> CommitOutcome:
    """One commit's worth: plan from the current snapshot, write, commit; plan again if refused."""
    outcome = CommitOutcome(kind)
    for _ in range(CONFLICT_ATTEMPTS):
        plan = _plan(kind, open_table(), lake, now(), set(extra_days))
        if not plan.candidates:
            return outcome
        chosen = _within(plan.candidates, limits.max_commit_bytes)
        folded, refused, data = _read(kind, lake, chosen)
        data_files = _write_data_files(plan.table, data)
        ledger_files = _write_ledger(plan, folded, now(), limits)
        summary = {
            **ledger_files.summary(),
            ledgers.RUN: run_id,
            ledgers.OBJECTS: str(len(folded)),
            ledgers.LINES: str(data.num_rows),
        }
        if extra_days:
            summary[ledgers.BACKFILL] = ",".join(sorted(set(extra_days)))
        try:
            snapshot_id = _commit(plan.table, data_files, summary)
        except CommitFailedException:
            # Certainly not committed (catalog.py): our files are nobody's; plan again.
            outcome.conflicts += 1
            logger.info("fold commit refused: another writer committed first", extra={"table": kind})
            _delete_quietly(plan.table, [f.file_path for f in data_files])
            _delete_quietly(plan.table, [ledger_files.files[day] for day in _touched_days(folded)])
            continue
        outcome.objects, outcome.lines, outcome.refused = len(folded), data.num_rows, refused
        outcome.remaining = len(plan.candidates) - len(chosen)
        outcome.snapshot_id = snapshot_id
        return outcome
    raise CommitFailedException(f"{kind}: {CONFLICT_ATTEMPTS} fold plans in a row were overtaken by other writers")


# planning --------------------------------------------------------------------------------------


def _plan(kind: Kind, table: Table, lake: LakeObjects, listed_at: datetime, extra_days: set[str]) -> _Plan:
    ledger = ledgers.current_ledger(table)
    partitions = sorted(
        (
            Partition(kind, app_id, day)
            for app_id in lake.applications(kind)
            for day in lake.days(kind, app_id)
            if ledger.window_start is None or day >= ledger.window_start or day in extra_days
        ),
        key=lambda partition: (partition.dt, partition.app_id),
    )
    folded_by_day: dict[str, set[str]] = {}
    candidates: list[LandingObject] = []
    for partition in partitions:
        if partition.dt not in folded_by_day:
            location = ledger.files.get(partition.dt)
            folded_by_day[partition.dt] = ledgers.read_keys(table, location) if location else set()
        candidates.extend(item for item in lake.objects(partition) if item.key not in folded_by_day[partition.dt])
    return _Plan(table, ledger, listed_at, candidates)


def _within(candidates: list[LandingObject], max_bytes: int) -> list[LandingObject]:
    """The oldest candidates up to `max_bytes` (at least one, whatever its size)."""
    chosen: list[LandingObject] = []
    total = 0
    for item in candidates:
        if chosen and total + item.size > max_bytes:
            break
        chosen.append(item)
        total += item.size
    return chosen


# reading and writing ---------------------------------------------------------------------------


def _read(kind: Kind, lake: LakeObjects, chosen: list[LandingObject]) -> tuple[list[str], list[str], pa.Table]:
    """The chosen objects' lines as one Arrow table; which objects folded, which were refused."""
    from countersign.tables.catalog import schema

    arrow_schema = schema(kind).as_arrow()
    erased: dict[str, ErasedFilter] = {}
    for item in chosen:
        name = parse_object_key(item.key)
        if name is not None and name.partition.app_id not in erased:
            erased[name.partition.app_id] = erased_filter(name.partition.app_id)

    def convert(item: LandingObject) -> tuple[str, pa.Table | None]:
        name = parse_object_key(item.key)
        is_erased = erased.get(name.partition.app_id) if name is not None else None
        records = [
            record
            for record in decode_object(lake.read_bytes(item.key))
            if is_erased is None or not record_erased(is_erased, record)
        ]
        try:
            rows = [row(kind, record) for record in records]
        except BadLine as error:
            logger.error("landing object refused: a line cannot be a row", extra={"key": item.key, "error": str(error)})
            return item.key, None
        return item.key, pa.Table.from_pylist(rows, schema=arrow_schema)

    with ThreadPoolExecutor(max_workers=_READ_THREADS, thread_name_prefix="fold-reader") as pool:
        converted = list(pool.map(convert, chosen))
    folded = [key for key, table in converted if table is not None]
    refused = [key for key, table in converted if table is None]
    tables = [table for _, table in converted if table is not None]
    data = pa.concat_tables(tables) if tables else arrow_schema.empty_table()
    return folded, refused, data


def _write_data_files(table: Table, data: pa.Table) -> list[DataFile]:
    if data.num_rows == 0:
        return []
    return list(_dataframe_to_data_files(table_metadata=table.metadata, df=data, io=table.io, write_uuid=uuid.uuid4()))


def _write_ledger(plan: _Plan, folded: list[str], now: datetime, limits: FoldLimits) -> ledgers.Ledger:
    """The ledger after this commit: new files for the days touched, the others carried over."""
    keep_from = clock.utc_day((now - timedelta(days=limits.ledger_days)).timestamp())
    files = {day: location for day, location in plan.ledger.files.items() if day >= keep_from}
    for day, keys in _touched_days(folded).items():
        earlier = plan.ledger.files.get(day)
        held = ledgers.read_keys(plan.table, earlier) if earlier else set()
        files[day] = ledgers.write_keys(plan.table, day, held | keys)
    # Next time, list the days new objects can still appear in, and any day with candidates left
    # waiting (over this commit's size, or refused).
    done = set(folded)
    waiting = {_day_of(item.key) for item in plan.candidates if item.key not in done}
    window_start = min({clock.utc_day((plan.listed_at - LOOKBACK).timestamp())} | waiting)
    return ledgers.Ledger(files, window_start)


def _touched_days(keys: Iterable[str]) -> dict[str, set[str]]:
    days: dict[str, set[str]] = {}
    for key in keys:
        days.setdefault(_day_of(key), set()).add(key)
    return days


def _day_of(key: str) -> str:
    name = parse_object_key(key)
    if name is None:  # listed through LakeObjects, which only returns landing keys
        raise ValueError(f"not a landing key: {key}")
    return name.partition.dt


def _commit(table: Table, data_files: list[DataFile], summary: dict[str, str]) -> int | None:
    transaction = table.transaction()
    with transaction.update_snapshot(snapshot_properties=summary).fast_append() as append:
        for data_file in data_files:
            append.append_data_file(data_file)
    committed = transaction.commit_transaction()
    snapshot = committed.current_snapshot()
    return snapshot.snapshot_id if snapshot is not None else None


def _delete_quietly(table: Table, locations: list[str]) -> None:
    for location in locations:
        try:
            table.io.delete(location)
        except Exception as error:  # noqa: BLE001 - an unreferenced file left is only garbage: maintenance deletes it
            logger.warning("could not delete an unreferenced file", extra={"location": location, "error": str(error)})
