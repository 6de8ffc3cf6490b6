"""Where the tables live and how to open them: the one way in for every writer and reader.

    settings = TableSettings.from_environment()     # what template.yaml (or local.json) says
    events = open_table("events", settings)         # a pyiceberg Table, created on first use

On AWS the catalog is the Glue Data Catalog (database `TABLES_NAMESPACE`), so Athena, Spark,
Trino, EMR and Snowflake find the tables; locally it is pyiceberg's SQL catalog on a SQLite file
in the local stack's state directory, which needs no network. Data and metadata are under
`tables/<table>/` of ExportBucket in both (`TABLES_WAREHOUSE`).

Writers re-plan on conflict. The tables are created with `commit.retry.num-retries = 0`: a
commit that meets a concurrent one fails with CommitFailedException (and certainly did not land)
instead of being replayed by the library on top of the other writer's snapshot. A replay would be
wrong for the fold (it decided what to fold from the snapshot it read: fold.py) and for any
delete (it planned which rows to drop from that snapshot). Catch it, open the table again, plan
again. The Glue client makes one attempt per call for the same reason: a retried UpdateTable whose
first answer was lost would be refused as a conflict although it landed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import BooleanType, IntegerType, NestedField, PrimitiveType, StringType, TimestamptzType

from countersign.lake import KINDS, Kind
from countersign.tables.columns import COLUMNS, TIME_COLUMN, ColumnType

#: Data files are written towards this size of Arrow data in memory; pyiceberg counts in-memory
#: bytes, and our rows compress about 4x into Parquet (make bench measures it), so files land
#: near the 128 MB that readers like.
TARGET_FILE_ARROW_BYTES = 512 * 1024 * 1024
TABLE_PROPERTIES = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    "write.target-file-size-bytes": str(TARGET_FILE_ARROW_BYTES),
    "commit.retry.num-retries": "0",
    # Each commit writes a new metadata file; keep the last 100, delete older ones on commit.
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "100",
}
_TYPES: dict[ColumnType, PrimitiveType] = {
    "string": StringType(),
    "timestamptz": TimestamptzType(),
    "boolean": BooleanType(),
    "int": IntegerType(),
}


@dataclass(frozen=True)
class TableSettings:
    """Which catalog, which namespace (Glue database), which warehouse location."""

    catalog: str  # "glue" or "sql"
    namespace: str
    warehouse: str  # s3://<ExportBucket>/tables (or file:// in unit tests)
    uri: str = ""  # the SQL catalog's database, sqlite:///<path>
    s3_endpoint: str = ""  # the local stack's moto server; empty on AWS
    region: str = ""
    #: With `s3_endpoint` only (the emulation's fixed keys); on AWS the role's credentials apply.
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""

    @classmethod
    def from_environment(cls) -> TableSettings:
        bucket = os.environ.get("EXPORT_BUCKET", "")
        return cls(
            catalog=os.environ.get("TABLES_CATALOG", "glue"),
            namespace=os.environ.get("TABLES_NAMESPACE", "countersign"),
            warehouse=os.environ.get("TABLES_WAREHOUSE", f"s3://{bucket}/tables" if bucket else ""),
            uri=os.environ.get("TABLES_CATALOG_URI", ""),
            s3_endpoint=os.environ.get("AWS_ENDPOINT_URL", ""),
            region=os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "")),
        )

    def location(self, kind: Kind) -> str:
        return f"{self.warehouse.rstrip('/')}/{kind}"


def open_catalog(settings: TableSettings) -> Catalog:
    """The catalog the settings name (a new client each time: a warm container reuses its own)."""
    properties: dict[str, Any] = {"warehouse": settings.warehouse}
    if settings.region:
        properties["s3.region"] = settings.region
    if settings.s3_endpoint:  # the local stack: moto server, path-style, its fixed credentials
        properties |= {
            "s3.endpoint": settings.s3_endpoint,
            "s3.access-key-id": settings.s3_access_key_id or os.environ.get("AWS_ACCESS_KEY_ID", ""),
            "s3.secret-access-key": settings.s3_secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            "s3.force-virtual-addressing": "false",
        }
    if settings.catalog == "sql":
        from pyiceberg.catalog.sql import SqlCatalog

        return SqlCatalog("countersign", uri=settings.uri, **properties)
    if settings.catalog == "glue":
        from pyiceberg.catalog.glue import GlueCatalog

        # One attempt per Glue call: see the module docstring. An int: pyiceberg hands the value
        # to botocore's retry config as it is, and botocore refuses a string there.
        return GlueCatalog("countersign", **properties, **{"glue.max-retries": 1})
    raise ValueError(f"TABLES_CATALOG is {settings.catalog!r}: expected glue or sql")


def schema(kind: Kind) -> Schema:
    return Schema(
        *(
            NestedField(field_id, column.name, _TYPES[column.type], required=column.required, doc=column.doc)
            for field_id, column in enumerate(COLUMNS[kind], start=1)
        )
    )


def partition_spec(kind: Kind) -> PartitionSpec:
    table_schema = schema(kind)
    app = table_schema.find_field("app_id")
    time_column = table_schema.find_field(TIME_COLUMN[kind])
    return PartitionSpec(
        PartitionField(app.field_id, 1000, IdentityTransform(), "app_id"),
        PartitionField(time_column.field_id, 1001, DayTransform(), f"{time_column.name}_day"),
    )


def open_table(kind: Kind, settings: TableSettings | None = None, *, catalog: Catalog | None = None) -> Table:
    """The table `kind`, created (with its namespace) the first time anything opens it."""
    settings = settings or TableSettings.from_environment()
    catalog = catalog or open_catalog(settings)
    identifier = (settings.namespace, kind)
    try:
        return catalog.load_table(identifier)
    except NoSuchTableError:
        catalog.create_namespace_if_not_exists(settings.namespace)
        return catalog.create_table_if_not_exists(
            identifier,
            schema=schema(kind),
            partition_spec=partition_spec(kind),
            location=settings.location(kind),
            properties=TABLE_PROPERTIES,
        )


def existing_table(kind: Kind, settings: TableSettings, *, catalog: Catalog | None = None) -> Table | None:
    """The table `kind`, or None before a fold created it: readers never create it."""
    try:
        return (catalog or open_catalog(settings)).load_table((settings.namespace, kind))
    except (NoSuchTableError, NoSuchNamespaceError):
        return None


def open_tables(settings: TableSettings | None = None) -> dict[Kind, Table]:
    """Both tables, through one catalog client."""
    settings = settings or TableSettings.from_environment()
    catalog = open_catalog(settings)
    return {kind: open_table(kind, settings, catalog=catalog) for kind in KINDS}
