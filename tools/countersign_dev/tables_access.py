"""The Iceberg tables (SPEC 6.2) from this machine: where they are, and SQL over them (DuckDB).

    settings = local_table_settings(local_json)          # the local stack's catalog and warehouse
    settings = stack_table_settings(outputs, region)     # a deployed stack's Glue database
    columns, rows = run_table_sql(settings, "SELECT ...", app="app_...")

`run_table_sql` reads the tables through pyiceberg into Arrow (only the application's files when
`app` is given: app_id is a partition column) and hands them to DuckDB as `events` and
`sessions`, with the few Athena (Trino) functions docs/lake.md's queries use defined as macros,
so a query tried here runs unchanged in the stack's Athena workgroup. No DuckDB extension is
needed (none can be downloaded here): DuckDB reads the Arrow tables in place.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from countersign.lake import KINDS

if TYPE_CHECKING:  # pyiceberg loads only when the tables are read
    from countersign.tables.catalog import TableSettings

#: Athena (Trino) functions the documented queries use, spelled in DuckDB.
ATHENA_MACROS = (
    "CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)",
    "CREATE MACRO from_unixtime(s) AS to_timestamp(s)",
)
_APP_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The emulation's fixed credentials (moto accepts any).
LOCAL_KEY = "countersign-local"


def local_table_settings(state: dict[str, Any]) -> TableSettings:
    """The tables of a running local stack, from its local.json."""
    from countersign.tables.catalog import TableSettings

    tables = state.get("tables") or {}
    if not tables.get("catalog"):
        raise LookupError("local.json names no tables catalog: restart the local stack (make dev)")
    return TableSettings(
        catalog="sql",
        namespace=tables["namespace"],
        warehouse=tables["warehouse"],
        uri=tables["catalog"],
        s3_endpoint=state["awsEndpointUrl"],
        region=state.get("region", "us-east-1"),
        s3_access_key_id=LOCAL_KEY,
        s3_secret_access_key=LOCAL_KEY,
    )


def stack_table_settings(outputs: dict[str, str], region: str | None) -> TableSettings:
    """The tables of a deployed stack (its outputs), read with your AWS credentials."""
    if "TablesDatabaseName" not in outputs:
        raise LookupError("the stack has no TablesDatabaseName output: deploy this version first")
    import boto3

    from countersign.tables.catalog import TableSettings

    return TableSettings(
        catalog="glue",
        namespace=outputs["TablesDatabaseName"],
        warehouse=f"s3://{outputs['ExportBucketName']}/tables",
        region=region or boto3.session.Session().region_name or "",
    )


def read_tables(settings: TableSettings, *, app: str | None) -> dict[str, Any]:
    """Both tables as Arrow tables (one application's rows if given)."""
    from countersign.tables.catalog import open_catalog, open_table

    if app is not None and not _APP_ID.fullmatch(app):
        raise ValueError(f"not an application id: {app!r}")
    catalog = open_catalog(settings)
    row_filter = f"app_id == '{app}'" if app else "True"
    return {kind: open_table(kind, settings, catalog=catalog).scan(row_filter=row_filter).to_arrow() for kind in KINDS}


def run_table_sql(settings: TableSettings, query: str, *, app: str | None) -> tuple[list[str], list[list[Any]]]:
    """Run `query` with DuckDB over `events` and `sessions`; column names and rows."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")  # timestamps with zone show in UTC, as in Athena
    for macro in ATHENA_MACROS:
        connection.execute(macro)
    for kind, arrow in read_tables(settings, app=app).items():
        connection.register(kind, arrow)
    cursor = connection.execute(query)
    columns = [column[0] for column in cursor.description or []]
    return columns, [list(row) for row in cursor.fetchall()]
