"""Which landing objects a table holds, recorded by the table's own commits (SPEC 6.2).

Iceberg's rule: a commit is the only moment data becomes visible, so everything before it may be
repeated, and the commit carries what it consumed so that a repeat can see it was done. Each fold
commit's snapshot summary names, per UTC day of the landing objects (their `dt`), a ledger file:
every landing key of that day the table holds, one per line, gzip (named `.ledger`: pyarrow would
unzip a `.gz` on its own). The file is written before the
commit, under a fresh name, and only counts once a committed snapshot names it - so the ledger
changes atomically with the data, and a crashed or refused attempt leaves only unreferenced
files behind (maintenance deletes them).

    countersign.fold.ledger.<YYYY-MM-DD>   the ledger file of that landing day
    countersign.fold.window-start          the oldest landing day the fold still lists
    countersign.fold.run / .objects / .lines / .backfill   what this commit did (for people)

Snapshots that are not folds (compaction, expiry, erasures) carry no ledger: the ledger in force
is the newest fold snapshot's in the current snapshot's ancestry, and snapshot expiry keeps that
snapshot (maintenance.py).
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

PREFIX = "countersign.fold."
LEDGER_PREFIX = PREFIX + "ledger."
WINDOW_START = PREFIX + "window-start"
RUN = PREFIX + "run"
OBJECTS = PREFIX + "objects"
LINES = PREFIX + "lines"
BACKFILL = PREFIX + "backfill"
#: Where ledger files go, under the table's location.
LEDGER_FOLDER = "countersign-ledger"


class LedgerMissing(Exception):
    """The table has snapshots but none of its ancestry is a fold: folding now could fold twice."""


@dataclass
class Ledger:
    """The ledger in force: one file per landing day, and where listing starts."""

    files: dict[str, str] = field(default_factory=dict)  # YYYY-MM-DD -> ledger file location
    window_start: str | None = None
    snapshot_id: int | None = None  # the fold snapshot that carries it

    def summary(self) -> dict[str, str]:
        """The snapshot summary properties that record this ledger."""
        properties = {LEDGER_PREFIX + day: location for day, location in sorted(self.files.items())}
        if self.window_start is not None:
            properties[WINDOW_START] = self.window_start
        return properties


def ledger_of(snapshot: Snapshot) -> Ledger | None:
    """The ledger a snapshot's summary records, or None if it is not a fold's."""
    properties = snapshot.summary.additional_properties if snapshot.summary is not None else {}
    if WINDOW_START not in properties:
        return None
    files = {key[len(LEDGER_PREFIX) :]: value for key, value in properties.items() if key.startswith(LEDGER_PREFIX)}
    return Ledger(files, properties[WINDOW_START], snapshot.snapshot_id)


def current_ledger(table: Table) -> Ledger:
    """The newest fold's ledger in the current snapshot's ancestry (empty for a new table)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return Ledger()
    while snapshot is not None:
        found = ledger_of(snapshot)
        if found is not None:
            return found
        snapshot = table.snapshot_by_id(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
    raise LedgerMissing(f"{table.name()}: no fold snapshot in the current ancestry; refusing to fold again")


def read_keys(table: Table, location: str) -> set[str]:
    """The landing keys one ledger file holds."""
    with table.io.new_input(location).open() as stream:
        text = gzip.decompress(stream.read()).decode("utf-8")
    return {line for line in text.split("\n") if line}


def write_keys(table: Table, day: str, keys: Iterable[str]) -> str:
    """A new ledger file for `day` holding `keys`; its location (it counts once a commit names it)."""
    location = f"{table.location().rstrip('/')}/{LEDGER_FOLDER}/{day}/{uuid.uuid4()}.ledger"
    body = gzip.compress("".join(f"{key}\n" for key in sorted(keys)).encode("utf-8"), mtime=0)
    with table.io.new_output(location).create(overwrite=False) as stream:
        stream.write(body)
    return location


def referenced_files(table: Table) -> set[str]:
    """Every ledger file some retained snapshot names (maintenance keeps these)."""
    found: set[str] = set()
    for snapshot in table.snapshots():
        ledger = ledger_of(snapshot)
        if ledger is not None:
            found.update(ledger.files.values())
    return found
