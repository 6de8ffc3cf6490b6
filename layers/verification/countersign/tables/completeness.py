"""Proving nothing was lost (SPEC 6.3): DataTable's accepted events against the `events` table.

    reconcile   for each application and each closed hour inside the dedupe window: the events
                DataTable accepted in that hour, by event_id, against the rows of `events`
    backfill    what reconcile found missing, read from DataTable, written as landing objects and
                folded by this same run (exactly once: the fold's ledger, fold.py)

Accepted in an hour: the event keys the hour's receipts name (store.data: one receipt per batch,
written when the batch is stored), each counted in the hour of its earliest receipt, which is
when it was received unless that batch's first receipt failed and a retry's wrote it. A key whose
event DataTable no longer holds (erased, SPEC 9, or expired) is never missing. An hour is checked
once it ended SETTLE ago, so the fold (every TableCommitMinutes) has had time to take its events.

What it costs: one Query per receipt shard and hour (keys only), one scan of the application's
`events` rows received in the range (event_id and received_at columns only; Parquet statistics
skip the files of other hours), and a BatchGetItem only for the candidates not found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pyiceberg import expressions
from pyiceberg.expressions import And, BooleanExpression
from pyiceberg.table import Table

from countersign import clock
from countersign.config import get_config
from countersign.lake import LakeLine, Partition, encode_object, event_line, object_name
from countersign.observability import logger, metrics
from countersign.store.control import ControlStore, control_store
from countersign.store.data import DataStore, data_store
from countersign.store.lake_objects import LakeObjects
from countersign.tables.catalog import TableSettings, existing_table
from countersign.tables.fold import fold

#: How long after an hour ends it is checked: the fold's period (5 minutes) and its run, with room.
SETTLE = timedelta(minutes=20)
HOUR = timedelta(hours=1)
#: A batch retried within this long after its first attempt is counted in the first attempt's hour.
RETRY_REACH = timedelta(hours=1)


@dataclass
class HourReport:
    app_id: str
    hour: datetime
    accepted: int = 0
    in_tables: int = 0
    missing_keys: list[str] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return len(self.missing_keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "appId": self.app_id,
            "hour": clock.iso(self.hour),
            "accepted": self.accepted,
            "inTables": self.in_tables,
            "missing": self.missing,
        }


def report_json(reports: Iterable[HourReport]) -> dict[str, Any]:
    """SPEC 6.3's `--json` answer."""
    hours = [report.to_json() for report in reports]
    return {"missing": sum(hour["missing"] for hour in hours), "hours": hours}


def closed_hours(now: datetime, *, hours: int | None, window: timedelta) -> list[datetime]:
    """The hours to check, oldest first: ended SETTLE ago, begun inside the dedupe window."""
    last_end = _floor_hour(now - SETTLE)
    first = _floor_hour(now - window) + HOUR  # the oldest whole hour DataTable still holds
    if hours is not None:
        first = max(first, last_end - hours * HOUR)
    found = []
    hour = first
    while hour + HOUR <= last_end:
        found.append(hour)
        hour += HOUR
    return found


def reconcile(
    events: Table | None, data: DataStore, app_ids: Iterable[str], *, now: datetime, hours: int | None = None
) -> list[HourReport]:
    """Per application and closed hour: accepted, in the table, and the keys missing from it (all of
    them while no fold has created the table: `events` None)."""
    window = timedelta(seconds=get_config().dedupe_window_seconds)
    checked = closed_hours(now, hours=hours, window=window)
    reports: list[HourReport] = []
    if not checked:
        return reports
    for app_id in app_ids:
        reports.extend(_reconcile_app(events, data, app_id, checked))
    return reports


def _reconcile_app(events: Table | None, data: DataStore, app_id: str, checked: list[datetime]) -> list[HourReport]:
    start, end = checked[0], checked[-1] + HOUR
    receipts = data.receipt_keys_between(app_id, _ms(start), _ms(end + RETRY_REACH))
    accepted_by_hour: dict[datetime, set[str]] = {}
    for key, at_ms in receipts.items():
        hour = _floor_hour(datetime.fromtimestamp(at_ms / 1000, UTC))
        if start <= hour < end:
            accepted_by_hour.setdefault(hour, set()).add(key)
    if not accepted_by_hour:
        return []
    in_table = _event_ids(
        events,
        And(
            _predicate("EqualTo", "app_id", app_id),
            And(
                _predicate("GreaterThanOrEqual", "received_at", _iso_us(start - RETRY_REACH)),
                _predicate("LessThan", "received_at", _iso_us(end)),
            ),
        ),
    )
    candidates = {key for keys in accepted_by_hour.values() for key in keys} - in_table
    held = data.accepted_events(app_id, candidates) if candidates else {}
    # Found in DataTable but not among the range's rows: maybe in the table under another hour.
    elsewhere = (
        _event_ids(events, And(_predicate("EqualTo", "app_id", app_id), _predicate("In", "event_id", sorted(held))))
        if held
        else set()
    )
    reports = []
    for hour in sorted(accepted_by_hour):
        keys = accepted_by_hour[hour]
        gone = {key for key in keys & candidates if key not in held}  # erased or expired: never missing
        missing = sorted(key for key in keys & candidates if key in held and key not in elsewhere)
        accepted = len(keys) - len(gone)
        reports.append(HourReport(app_id, hour, accepted, accepted - len(missing), missing))
    return reports


def _predicate(name: str, column: str, value: Any) -> BooleanExpression:
    """pyiceberg's predicate `name` on `column` (its classes take the term and value positionally,
    which their pydantic signatures hide from the type checker)."""
    predicate: BooleanExpression = getattr(expressions, name)(column, value)
    return predicate


def _event_ids(events: Table | None, row_filter: BooleanExpression) -> set[str]:
    if events is None:
        return set()
    column = events.scan(row_filter=row_filter, selected_fields=("event_id",)).to_arrow()["event_id"]
    return {str(value) for value in column.to_pylist()}


def backfill(
    reports: list[HourReport],
    open_events: Callable[[], Table],
    data: DataStore,
    lake: LakeObjects,
) -> int:
    """Write the missing events of `reports` from DataTable and fold them; how many lines."""
    by_partition: dict[Partition, list[LakeLine]] = {}
    for app_id in sorted({report.app_id for report in reports if report.missing}):
        keys = [key for report in reports if report.app_id == app_id for key in report.missing_keys]
        for event in data.accepted_events(app_id, keys).values():
            line = event_line(event)
            by_partition.setdefault(line.partition, []).append(line)
    for partition, lines in sorted(by_partition.items()):
        # Named by its lines (sequence 0: no stream record): writing it again writes the same object.
        lake.put(object_name(partition, lines), encode_object(lines))
    if by_partition:
        days = {partition.dt for partition in by_partition}
        fold("events", open_events, lake, extra_days=days, keep_going=lambda: True)
    return sum(len(lines) for lines in by_partition.values())


def publish_reconcile() -> dict[str, Any]:
    """The reconcile function's hourly run: the report, logged, and its total as a metric."""
    events = existing_table("events", TableSettings.from_environment())
    reports = reconcile(events, data_store(), _app_ids(control_store()), now=clock.now())
    answer = report_json(reports)
    metrics.add_metric(name="TablesMissingEvents", unit=MetricUnit.Count, value=answer["missing"])
    short = [hour for hour in answer["hours"] if hour["missing"]]
    (logger.error if short else logger.info)("tables reconciled", extra={"missing": answer["missing"], "hours": short})
    return answer


def _app_ids(control: ControlStore) -> list[str]:
    return control.app_ids()


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso_us(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
