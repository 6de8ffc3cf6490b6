"""The data lake from this machine (SPEC 6): its objects and lines, SQL over them, the redrive of
failed export batches. `countersign lake` (commands/lake.py) prints what these return.

SQL runs on this machine over tables named and typed as the template's Glue
tables `events` and `sessions` (plus `app` and `dt`), with the Athena functions the README's
queries use, so a query tried here runs unchanged in the Athena workgroup.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from countersign.lake import EVENT_FIELDS, KINDS, SESSION_FIELDS, VERIFICATION_FIELDS, Kind, parse_object_key
from countersign_dev.errors import CliError

#: Athena (Trino) functions the documented queries use, spelled in DuckDB.
ATHENA_MACROS = (
    "CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)",
    "CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)",
)
_HIVE_TO_DUCKDB = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "boolean": "BOOLEAN", "double": "DOUBLE"}
_CAMEL = {name.lower(): name for name in (*EVENT_FIELDS, *SESSION_FIELDS, *VERIFICATION_FIELDS)}


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
            raise CliError(f"SQL: {first_line}") from error
        columns = [column[0] for column in cursor.description or []]
        return columns, [list(row) for row in cursor.fetchall()]


def duckdb_lake(root: Path) -> Any:
    """An in-memory DuckDB with views `events` and `sessions` over the objects under `root`."""
    import duckdb

    from countersign_dev.emulation import template as tpl

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
    from countersign_dev.emulation import template as tpl

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
    from countersign_dev.emulation.stream_poller import batch_records

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
