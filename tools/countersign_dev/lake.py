"""`countersign lake`: read the data lake (SPEC 6), query it locally, redrive failed export batches.

    countersign lake ls|events|sessions [--app APP] [--dt YYYY-MM-DD]   objects, or their lines as JSON Lines
    countersign lake sql "SELECT ..." [--app APP]                        DuckDB over the downloaded objects
    countersign lake redrive                                             export the dead-letter queue's batches again

Every command reads the local stack (`--local`, the default: its demo application unless
`--app`), a deployed stack (`--stack STACK`: the bucket and queue from its outputs) or a bucket
(`--bucket NAME`). SQL runs on this machine over tables named and typed as the template's Glue
tables `events` and `sessions` (plus `app` and `dt`), with the Athena functions the README's
queries use, so a query tried here runs unchanged in the Athena workgroup.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from countersign.lake import EVENT_FIELDS, KINDS, SESSION_FIELDS, VERIFICATION_FIELDS, Kind, parse_object_key
from countersign_dev.errors import CliError
from countersign_dev.terminal import json_line, printable

#: Athena (Trino) functions the documented queries use, spelled in DuckDB.
ATHENA_MACROS = (
    "CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)",
    "CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)",
)
_HIVE_TO_DUCKDB = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "boolean": "BOOLEAN", "double": "DOUBLE"}
_CAMEL = {name.lower(): name for name in (*EVENT_FIELDS, *SESSION_FIELDS, *VERIFICATION_FIELDS)}


def add_lake_commands(commands: Any, parser_class: type[argparse.ArgumentParser], state_dir: Path) -> None:
    """Register `countersign lake ...` on the CLI's subcommands."""
    lake = commands.add_parser("lake", help="read the data lake, query it with SQL, redrive failed exports")
    subcommands = lake.add_subparsers(dest="lake_command", required=True, parser_class=parser_class)
    for name, helptext in (
        ("ls", "list the lake's objects (key, bytes)"),
        ("events", "print exported events as JSON Lines"),
        ("sessions", "print exported session starts and updates as JSON Lines"),
        ("sql", "run SQL locally (DuckDB) over tables events and sessions, as in Athena"),
        ("redrive", "export the batches in the dead-letter queue again, then delete their messages"),
    ):
        sub = subcommands.add_parser(name, help=helptext)
        if name == "sql":
            sub.add_argument("query", help='e.g. "SELECT type, count(*) FROM events GROUP BY type"')
        if name != "redrive":
            sub.add_argument("--app", help="one application (default with --local: the demo application)")
        if name in {"ls", "events", "sessions"}:
            sub.add_argument("--dt", help="one UTC day, YYYY-MM-DD")
        if name in {"events", "sessions"}:
            sub.add_argument("--limit", type=int, default=0, help="print at most this many lines")
        if name in {"ls", "sql"}:
            sub.add_argument("--json", action="store_true", help="JSON output instead of a table")
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--local", action="store_true", help="the running local stack (the default)")
        where.add_argument("--stack", metavar="STACK", help="a deployed stack (its ExportBucketName output)")
        if name != "redrive":
            where.add_argument("--bucket", metavar="NAME", help="an export bucket")
        sub.add_argument("--state-dir", type=Path, default=state_dir, help="with --local: local.json's dir")
        sub.add_argument("--region", help="with --stack/--bucket: AWS region (default: your AWS configuration)")


def lake_command(args: argparse.Namespace) -> str:
    """Run one `countersign lake` command; returns what to print."""
    target = _target(args)
    app = getattr(args, "app", None) or target.default_app
    if args.lake_command == "ls":
        objects = list_objects(target, app=app, dt=args.dt)
        if args.json:
            return json.dumps(objects, indent=2)
        return _table(["key", "bytes"], [[item["key"], item["bytes"]] for item in objects])
    if args.lake_command in KINDS:
        kind: Kind = "events" if args.lake_command == "events" else "sessions"
        lines = read_lines(target, kind, app=app, dt=args.dt, limit=args.limit)
        return "\n".join(json_line(line) for line in lines)
    if args.lake_command == "sql":
        columns, rows = run_sql(target, args.query, app=app)
        if args.json:
            return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], indent=2, default=str)
        return _table(columns, rows)
    done = redrive(target)
    return json.dumps(done, indent=2)


@dataclass
class LakeTarget:
    """Where the lake is, and the clients to read it with."""

    s3: Any
    bucket: str
    streams: Any = None
    sqs: Any = None
    queue_url: str | None = None
    default_app: str | None = None


# reading ---------------------------------------------------------------------------------------


def list_objects(
    target: LakeTarget, *, app: str | None, dt: str | None, kinds: tuple[Kind, ...] = KINDS
) -> list[dict[str, Any]]:
    """The lake's objects (of one application / day if given), in key order."""
    found = []
    for kind in kinds:
        prefix = f"{kind}/" + (f"app={app}/" + (f"dt={dt}/" if dt else "") if app else "")
        for page in target.s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = parse_object_key(item["Key"])
                if name is not None and (dt is None or name.partition.dt == dt):
                    found.append({"key": item["Key"], "bytes": item["Size"]})
    return found


def read_lines(
    target: LakeTarget, kind: Kind, *, app: str | None, dt: str | None, limit: int = 0
) -> list[dict[str, Any]]:
    """Every line of `kind` (of one application / day if given), object by object in stream order."""
    from countersign.store.lake_objects import LakeObjects

    lake = LakeObjects(target.bucket, target.s3)
    lines: list[dict[str, Any]] = []
    for item in list_objects(target, app=app, dt=dt, kinds=(kind,)):
        lines.extend(lake.read(item["key"]))
        if limit and len(lines) >= limit:
            return lines[:limit]
    return lines


def run_sql(target: LakeTarget, query: str, *, app: str | None) -> tuple[list[str], list[list[Any]]]:
    """Download the lake (of one application if given) and run `query` on it with DuckDB."""
    with tempfile.TemporaryDirectory(prefix="countersign-lake-") as root:
        for item in list_objects(target, app=app, dt=None):
            path = Path(root, item["key"])
            path.parent.mkdir(parents=True, exist_ok=True)
            target.s3.download_file(target.bucket, item["key"], str(path))
        connection = duckdb_lake(Path(root))
        try:
            cursor = connection.execute(query)
        except Exception as error:
            first_line = str(error).partition("\n")[0]
            raise CliError(f"SQL: {printable(first_line)}") from error
        columns = [column[0] for column in cursor.description or []]
        return columns, [list(row) for row in cursor.fetchall()]


def duckdb_lake(root: Path) -> Any:
    """An in-memory DuckDB with views `events` and `sessions` over the objects under `root`."""
    import duckdb

    from countersign_dev import template as tpl

    connection = duckdb.connect()
    for macro in ATHENA_MACROS:
        connection.execute(macro)
    for table, columns in glue_tables(tpl.load_template()).items():
        types = {_CAMEL.get(name, name): _duckdb_type(kind) for name, kind in columns}
        spec = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in types.items()) + "}"
        files = sorted(root.glob(f"{table}/app=*/dt=*/*.jsonl.gz"))
        if files:
            source = (
                f"read_json('{root}/{table}/app=*/dt=*/*.jsonl.gz', format='newline_delimited', "
                f"hive_partitioning=true, hive_types={{'app': 'VARCHAR', 'dt': 'VARCHAR'}}, columns={spec})"
            )
        else:  # no object yet: the same columns, no rows
            nulls = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in types.items())
            source = f"(SELECT {nulls}, CAST(NULL AS VARCHAR) AS app, CAST(NULL AS VARCHAR) AS dt WHERE false)"
        # Names and types come from template.yaml, the path from a temporary directory: no user text.
        connection.execute(f"CREATE VIEW {table} AS SELECT * FROM {source}")  # noqa: S608
    return connection


def glue_tables(template: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """The template's Glue tables: name -> [(column, Hive type)] (the partition keys are added by the reader)."""
    from countersign_dev import template as tpl

    tables = {}
    for resource in tpl.resources_of_type(template, "AWS::Glue::Table").values():
        table = resource["Properties"]["TableInput"]
        tables[table["Name"]] = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    return tables


def _duckdb_type(hive: str) -> str:
    struct = re.fullmatch(r"struct<(.+)>", hive)
    if struct:
        fields = [field.split(":", 1) for field in struct.group(1).split(",")]
        return "STRUCT(" + ", ".join(f'"{_CAMEL.get(n, n)}" {_duckdb_type(t)}' for n, t in fields) + ")"
    return _HIVE_TO_DUCKDB[hive]


# redrive ---------------------------------------------------------------------------------------


def redrive(target: LakeTarget) -> dict[str, Any]:
    """Export every batch waiting in the dead-letter queue again; a message is deleted once its
    batch is in the lake (exactly once still holds: the export skips lines already written)."""
    if target.sqs is None or target.queue_url is None or target.streams is None:
        raise CliError("redrive needs --local or --stack (the dead-letter queue and the stream)")
    done: dict[str, Any] = {"batches": 0, "linesWritten": 0}
    while True:
        messages = target.sqs.receive_message(
            QueueUrl=target.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return done
        for message in messages:
            done["linesWritten"] += redrive_message(
                json.loads(message["Body"]), target.streams, target.s3, target.bucket
            )
            done["batches"] += 1
            target.sqs.delete_message(QueueUrl=target.queue_url, ReceiptHandle=message["ReceiptHandle"])


def redrive_message(message: dict[str, Any], streams: Any, s3: Any, bucket: str) -> int:
    """Read the batch a dead-letter message describes back from the stream and export it."""
    from countersign.export import export_batch
    from countersign.store.lake_objects import LakeObjects
    from countersign_dev.stream_poller import batch_records

    info = message.get("DDBStreamBatchInfo")
    if not isinstance(info, dict):
        raise CliError("a dead-letter message without DDBStreamBatchInfo: not from the export's event source mapping")
    try:
        records = batch_records(streams, info)
    except Exception as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
        raise CliError(
            f"cannot read records {info.get('startSequenceNumber')}..{info.get('endSequenceNumber')} of "
            f"{info.get('shardId')} back from the stream ({code}): a stream keeps records 24 hours"
        ) from error
    outcome = export_batch(records, LakeObjects(bucket, s3))
    if outcome.retry_from is not None:
        raise CliError(f"S3 refused part of the batch (from sequence number {outcome.retry_from}); run redrive again")
    return outcome.lines_written


# targets ---------------------------------------------------------------------------------------


def _target(args: argparse.Namespace) -> LakeTarget:
    import boto3

    if getattr(args, "bucket", None):
        return LakeTarget(boto3.client("s3", region_name=args.region), args.bucket)
    if args.stack:
        outputs = _stack_outputs(args.stack, args.region)
        if "ExportBucketName" not in outputs:
            raise CliError(f"stack {args.stack} has no ExportBucketName output: deploy this version first")
        return LakeTarget(
            boto3.client("s3", region_name=args.region),
            outputs["ExportBucketName"],
            streams=boto3.client("dynamodbstreams", region_name=args.region),
            sqs=boto3.client("sqs", region_name=args.region),
            queue_url=outputs.get("ExportDeadLetterQueueUrl"),
        )
    from countersign_dev.local_stack import read_state

    try:
        state = read_state(args.state_dir)
    except FileNotFoundError as error:
        raise CliError(str(error)) from error
    if not state.export_bucket:
        raise CliError(f"{args.state_dir}/local.json has no exportBucket: restart the local stack (make dev)")

    def local(service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=state.aws_endpoint_url,
            region_name=state.region,
            aws_access_key_id="countersign-local",
            aws_secret_access_key="countersign-local",  # noqa: S106 - moto accepts any credentials
        )

    target = LakeTarget(
        local("s3"),
        state.export_bucket,
        streams=local("dynamodbstreams"),
        sqs=local("sqs"),
        queue_url=state.export_dead_letter_queue,
        default_app=state.demo_app.get("appId"),
    )
    try:
        target.s3.head_bucket(Bucket=target.bucket)
    except Exception as error:
        raise CliError(f"the local stack in {args.state_dir} is not running (make dev)") from error
    return target


def _stack_outputs(stack: str, region: str | None) -> dict[str, str]:
    import boto3

    cloudformation = boto3.client("cloudformation", region_name=region)
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except cloudformation.exceptions.ClientError as error:
        raise CliError(f"stack {stack}: {error.response['Error'].get('Message', 'not found')}") from error
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def _table(columns: list[str], rows: list[list[Any]]) -> str:
    cells = [[printable(c) for c in columns], *[["NULL" if v is None else printable(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines) + f"\n({len(rows)} row{'s' if len(rows) != 1 else ''})"
