"""`countersign lake ...`: the data lake (SPEC 6) of the local stack, a deployed stack or a bucket.

    countersign lake ls|events|sessions [--app APP] [--dt YYYY-MM-DD]   objects, or their lines as JSON Lines
    countersign lake sql "SELECT ..." [--app APP] [--landing]            DuckDB over the tables (or landing objects)
    countersign lake redrive                                             export the dead-letter queue's batches again
    countersign lake reconcile [--app APP] [--hours N] [--json]          accepted events against `events` (SPEC 6.3)
    countersign lake backfill [--app APP] [--hours N]                    write what reconcile finds missing, once

Every command reads the local stack (`--local`, the default: its demo application unless
`--app`), a deployed stack (`--stack STACK`: the bucket and queue from its outputs) or a bucket
(`--bucket NAME`). `lake sql` queries the Iceberg tables (SPEC 6.2) through pyiceberg and DuckDB
(countersign_dev.tables_access), `--landing` the landing objects; `reconcile` and `backfill` cover
every application unless `--app` (countersign.tables.completeness).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from countersign.lake import KINDS, Kind
from countersign_dev.errors import CliError
from countersign_dev.lake import LakeTarget, list_objects, read_lines, redrive, run_sql
from countersign_dev.render import json_line, json_text, table
from countersign_dev.target import Target, Where, add_target_options, resolve

if TYPE_CHECKING:  # pyiceberg loads only when a command reads the tables
    from countersign.tables.catalog import TableSettings


def register(commands: Any) -> None:
    lake = commands.add_parser("lake", help="read the data lake, query it with SQL, redrive failed exports")
    actions = lake.add_subparsers(dest="action_name", required=True, metavar="ACTION")
    for name, helptext, example in (
        ("ls", "list the lake's objects (key, bytes)", "lake ls --dt 2026-12-06 --local"),
        ("events", "print exported events as JSON Lines", "lake events --limit 20 --local"),
        ("sessions", "print exported session starts and updates as JSON Lines", "lake sessions --local"),
        (
            "sql",
            "run SQL locally (DuckDB) over tables events and sessions, as in Athena",
            'lake sql "SELECT type, count(*) AS n FROM events GROUP BY type" --local',
        ),
        (
            "redrive",
            "export the batches in the dead-letter queue again, then delete their messages",
            "lake redrive --stack countersign-prod",
        ),
        (
            "reconcile",
            "compare accepted events with the events table, per application and closed hour",
            "lake reconcile --hours 24 --stack countersign-prod",
        ),
        (
            "backfill",
            "write the events reconcile finds missing from DataTable into the tables, exactly once",
            "lake backfill --hours 24 --stack countersign-prod",
        ),
    ):
        sub = actions.add_parser(name, help=helptext, description=helptext, epilog=f"example: countersign {example}")
        if name == "sql":
            sub.add_argument("query", help='e.g. "SELECT type, count(*) FROM events GROUP BY type"')
            sub.add_argument("--landing", action="store_true", help="query the landing objects, not the tables")
        if name in {"reconcile", "backfill"}:
            sub.add_argument(
                "--hours", type=_positive, help="only the last N closed hours (default: the dedupe window)"
            )
        if name in {"ls", "events", "sessions"}:
            sub.add_argument("--dt", help="one UTC day, YYYY-MM-DD")
        if name in {"events", "sessions"}:
            sub.add_argument("--limit", type=int, default=0, help="print at most this many lines")
        if name in {"ls", "sql", "reconcile"}:
            sub.add_argument("--json", action="store_true", help="JSON output instead of a table")
        stack_only = name in {"redrive", "reconcile", "backfill"}
        add_target_options(sub, bucket=not stack_only, app=name != "redrive")
        sub.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run one `countersign lake` command and print what it found."""
    stack_only = args.action_name in {"redrive", "reconcile", "backfill"}
    accepts: tuple[Where, ...] = ("local", "stack") if stack_only else ("local", "stack", "bucket")
    where = resolve(args, accepts, default="local")
    if args.action_name in {"reconcile", "backfill"}:
        completeness(args, where)  # every application unless --app
        return
    target = lake_target(where)
    app = where.app_id or (where.demo_app.get("appId") if where.local else None)
    action = args.action_name
    if action == "ls":
        objects = list_objects(target, app=app, dt=args.dt)
        if args.json:
            print(json.dumps(objects, indent=2))
        else:
            print(
                table(["key", "bytes"], [[item["key"], item["bytes"]] for item in objects], rule=True, count=True),
                end="",
            )
    elif action in KINDS:
        kind: Kind = "events" if action == "events" else "sessions"
        lines = read_lines(target, kind, app=app, dt=args.dt, limit=args.limit)
        print("\n".join(json_line(line) for line in lines))
    elif action == "sql":
        columns, rows = run_sql(target, args.query, app=app) if args.landing else table_sql(where, args.query, app)
        if args.json:
            print(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], indent=2, default=str))
        else:
            sql_table = table(columns, rows, width=None, none="NULL", booleans=("True", "False"), rule=True, count=True)
            print(sql_table, end="")
    else:
        print(json_text(redrive(target)), end="")


def lake_target(where: Target) -> LakeTarget:
    """The lake's bucket (and, for the redrive, the stream and dead-letter queue) of the target."""
    if where.where == "bucket":
        return LakeTarget(where.client("s3"), str(where.bucket))
    target = LakeTarget(
        where.client("s3"),
        where.output("ExportBucketName"),
        streams=where.client("dynamodbstreams"),
        sqs=where.client("sqs"),
        queue_url=where.output("ExportDeadLetterQueueUrl", required=False) or None,
    )
    if where.local:
        try:
            target.s3.head_bucket(Bucket=target.bucket)
        except Exception as error:
            raise CliError(f"the local stack in {where.state_dir} is not running (make dev)") from error
    return target


def table_settings(where: Target) -> TableSettings:
    """Where the target's Iceberg tables are (local.json, or the stack's outputs)."""
    from countersign_dev.tables_access import local_table_settings, stack_table_settings

    if where.where == "bucket":
        raise CliError("the tables are found through a stack (--stack) or the local stack, not a bucket")
    try:
        if where.local:
            return local_table_settings(where.state)
        return stack_table_settings(where.outputs, where.region)
    except LookupError as error:
        raise CliError(str(error)) from error


def table_sql(where: Target, query: str, app: str | None) -> tuple[list[str], list[list[Any]]]:
    import duckdb

    from countersign_dev.tables_access import run_table_sql

    try:
        return run_table_sql(table_settings(where), query, app=app)
    except ValueError as error:
        raise CliError(str(error)) from error
    except duckdb.Error as error:
        raise CliError(f"SQL: {str(error).splitlines()[0]}") from error


def completeness(args: argparse.Namespace, where: Target) -> None:
    """`lake reconcile` prints SPEC 6.3's report; `lake backfill` writes what it finds missing."""
    from countersign import clock
    from countersign.store.control import ControlStore
    from countersign.store.data import DataStore
    from countersign.store.lake_objects import LakeObjects
    from countersign.tables.catalog import open_table
    from countersign.tables.completeness import backfill, reconcile, report_json

    settings = table_settings(where)
    data = DataStore(*reversed(where.table("DataTableName")))
    apps = [where.app_id] if where.app_id else ControlStore(*reversed(where.table("ControlTableName"))).app_ids()

    def events() -> Any:
        return open_table("events", settings)

    reports = reconcile(events(), data, apps, now=clock.now(), hours=args.hours)
    if args.action_name == "reconcile":
        answer = report_json(reports)
        if args.json:
            print(json.dumps(answer, indent=2))
            return
        rows = [[h["appId"], h["hour"], h["accepted"], h["inTables"], h["missing"]] for h in answer["hours"]]
        print(table(["appId", "hour", "accepted", "inTables", "missing"], rows, rule=True, count=True), end="")
        print(f"missing: {answer['missing']}")
        return
    lake = LakeObjects(where.output("ExportBucketName"), where.client("s3"))
    written = backfill(reports, events, data, lake)
    after = report_json(reconcile(events(), data, apps, now=clock.now(), hours=args.hours))
    print(json.dumps({"written": written, "missing": after["missing"]}, indent=2))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
