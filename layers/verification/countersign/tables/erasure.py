"""An erasure's step in the Iceberg tables (SPEC 9): the subject's rows out of `events` and
`sessions`, and out of every file under the tables' location, with proof.

    for each table that exists:
      the files the table references now
      -> delete the subject's rows (one commit: whole files dropped, mixed files rewritten),
         the commit carrying the ledger in force (ledger.py), so that it becomes the snapshot
         the fold and maintenance keep
      -> expire every older snapshot (their manifests and data files still hold the rows)
      -> delete the files referenced before and by nothing now (precisely those: a fold writing
         its files at this moment never loses them)
    verification: a scan of both tables for the subject, and a byte search of every object under
    the tables' location for its id; the erasure completes only when both find nothing.

A commit refused because another writer (the fold) committed first is planned again from the new
snapshot, up to CONFLICT_ATTEMPTS times; then the erasure stays `running` and the next run goes on.
Tables that do not exist yet hold nothing: this step never creates them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import quote, urlparse

from pyarrow.fs import FileSelector, FileType
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.expressions import And, BooleanExpression, EqualTo, NotEqualTo
from pyiceberg.manifest import ManifestEntryStatus
from pyiceberg.table import Table

from countersign.errors import DependencyUnavailable
from countersign.lake import KINDS, Kind
from countersign.tables import ledger as ledgers
from countersign.tables.catalog import TableSettings, open_catalog
from countersign.tables.maintenance import ledger_chain, referenced_files, without_scheme

CONFLICT_ATTEMPTS = 4
_COLUMNS = {"visitor": "visitor_id", "account": "account_id"}
#: The erasure's commit says what it was (never whose).
ERASURE = "countersign.erasure"


def _equal(column: str, value: str) -> BooleanExpression:
    # A bound expression, never a filter string: an id is data, not syntax. (pyiceberg's
    # __init__ takes (term, literal); mypy sees the pydantic fields (term=, value=) instead.)
    return EqualTo(column, value)  # type: ignore[call-arg,arg-type]


def _not_equal(column: str, value: str) -> BooleanExpression:
    return NotEqualTo(column, value)  # type: ignore[call-arg,arg-type]


def _subject_filter(app_id: str, kind: str, subject_id: str) -> BooleanExpression:
    return And(_equal("app_id", app_id), _equal(_COLUMNS[kind], subject_id))


def _existing_tables(settings: TableSettings) -> tuple[Catalog, dict[Kind, Table]]:
    catalog = open_catalog(settings)
    found: dict[Kind, Table] = {}
    for kind in KINDS:
        try:
            found[kind] = catalog.load_table((settings.namespace, kind))
        except NoSuchTableError:
            continue
    return catalog, found


def erase(
    app_id: str, kind: str, subject_id: str, each: Callable[[dict[str, int]], None] = lambda _: None
) -> dict[str, int]:
    """Delete the subject's rows from both tables and every file that held them; rows removed.
    `each` hears what each table gave up as soon as it is done (a later failure loses none of it)."""
    settings = TableSettings.from_environment()
    catalog, tables = _existing_tables(settings)
    removed = {"events": 0, "sessions": 0, "filesDeleted": 0}
    for table_kind in tables:
        identifier = (settings.namespace, table_kind)
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            table = catalog.load_table(identifier)
            try:
                rows, files = _erase_from(table, _subject_filter(app_id, kind, subject_id))
            except CommitFailedException:
                if attempt == CONFLICT_ATTEMPTS:
                    raise DependencyUnavailable("tables") from None
                continue
            removed[table_kind] += rows
            removed["filesDeleted"] += files
            each({table_kind: rows, "filesDeleted": files})
            break
    return removed


def _erase_from(table: Table, subject: BooleanExpression) -> tuple[int, int]:
    before = referenced_files(table)
    rows = table.scan(row_filter=subject).count()
    if rows:
        # The ledger in force rides on this commit, so the snapshots before it can all expire
        # (expiring the fold snapshot that carried it would make the next fold fold everything).
        properties = {**ledgers.current_ledger(table).summary(), ERASURE: "rows of a subject deleted"}
        table.delete(delete_filter=subject, snapshot_properties=properties)
    # Every snapshot but the current one and those leading to the ledger (none, after the delete):
    # a retry after a run that deleted and then failed expires what that run left.
    kept = ledger_chain(table)
    older = [snapshot.snapshot_id for snapshot in table.snapshots() if snapshot.snapshot_id not in kept]
    if older:
        table.maintenance.expire_snapshots().by_ids(older).commit()
    gone = before - _still_needed(table)
    for path in gone:
        table.io.delete(_with_scheme(table, path))
    return rows, len(gone)


def _still_needed(table: Table) -> set[str]:
    """What the table references, but for the data files that only a DELETED manifest entry
    names: readers skip those entries, and the files still hold the rows just deleted."""
    live: set[str] = set()
    deleted: set[str] = set()
    for snapshot in table.snapshots():
        for manifest in snapshot.manifests(table.io):
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
                found = deleted if entry.status == ManifestEntryStatus.DELETED else live
                found.add(without_scheme(entry.data_file.file_path))
    return referenced_files(table) - (deleted - live)


def count(app_id: str, kind: str, subject_id: str) -> int:
    """What a verification pass finds: the subject's rows, plus the files under the tables'
    location whose bytes contain its id - the data files of its application's partitions, and
    the metadata, manifests and ledgers unless another application's rows hold the same id (their
    column statistics may then name it: those files are that application's data too)."""
    settings = TableSettings.from_environment()
    _, tables = _existing_tables(settings)
    column = _COLUMNS[kind]
    rows = sum(table.scan(row_filter=_subject_filter(app_id, kind, subject_id)).count() for table in tables.values())
    elsewhere = any(
        table.scan(row_filter=And(_not_equal("app_id", app_id), _equal(column, subject_id))).count()
        for table in tables.values()
    )
    needle = subject_id.encode("utf-8", "surrogatepass")
    partition = f"/data/app_id={quote(app_id, safe='')}/"
    return rows + sum(
        1
        for table in tables.values()
        for path, body in _objects(table)
        if needle in body and (partition in path or ("/data/" not in path and not elsewhere))
    )


def _objects(table: Table) -> Iterator[tuple[str, bytes]]:
    """Every file under the table's location, with its bytes, one at a time."""
    location = urlparse(table.location())
    filesystem = table.io.fs_by_scheme(location.scheme, location.netloc)  # type: ignore[attr-defined]
    root = f"{location.netloc}{location.path}" if location.netloc else location.path
    for info in filesystem.get_file_info(FileSelector(root, recursive=True, allow_not_found=True)):
        if info.type == FileType.File:
            with filesystem.open_input_stream(info.path) as stream:
                yield info.path, stream.read()


def _with_scheme(table: Table, path: str) -> str:
    scheme = urlparse(table.location()).scheme
    return f"{scheme}://{path}" if scheme else path
