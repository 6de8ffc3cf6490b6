"""`countersign lake ...`: the data lake (SPEC 6) of the local stack, a deployed stack or a bucket.

    countersign lake ls|events|sessions [--app APP] [--dt YYYY-MM-DD]   objects, or their lines as JSON Lines
    countersign lake sql "SELECT ..." [--app APP]                        DuckDB over the downloaded objects
    countersign lake redrive                                             export the dead-letter queue's batches again

Every command reads the local stack (`--local`, the default: its demo application unless
`--app`), a deployed stack (`--stack STACK`: the bucket and queue from its outputs) or a bucket
(`--bucket NAME`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from countersign.lake import KINDS, Kind
from countersign_dev.errors import CliError
from countersign_dev.lake import LakeTarget, list_objects, read_lines, redrive, run_sql
from countersign_dev.render import json_line, json_text, table
from countersign_dev.target import Target, Where, add_target_options, resolve


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
    ):
        sub = actions.add_parser(name, help=helptext, description=helptext, epilog=f"example: countersign {example}")
        if name == "sql":
            sub.add_argument("query", help='e.g. "SELECT type, count(*) FROM events GROUP BY type"')
        if name in {"ls", "events", "sessions"}:
            sub.add_argument("--dt", help="one UTC day, YYYY-MM-DD")
        if name in {"events", "sessions"}:
            sub.add_argument("--limit", type=int, default=0, help="print at most this many lines")
        if name in {"ls", "sql"}:
            sub.add_argument("--json", action="store_true", help="JSON output instead of a table")
        add_target_options(sub, bucket=name != "redrive", app=name != "redrive")
        sub.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Run one `countersign lake` command and print what it found."""
    accepts: tuple[Where, ...] = ("local", "stack") if args.action_name == "redrive" else ("local", "stack", "bucket")
    where = resolve(args, accepts, default="local")
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
        columns, rows = run_sql(target, args.query, app=app)
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
