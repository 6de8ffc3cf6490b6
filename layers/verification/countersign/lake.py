"""The data lake's lines and object names (SPEC 6): a DataTable stream record in, a lake line out.

    stream record -> store.data.stream_change (typed) -> LakeLine(kind, app, dt, sequence, record)
                  -> partition -> object

No AWS call: the store decodes the stream image (it alone knows DataTable's item layout) and this
module maps the typed session or event to its lake record.

- An inserted EVENT item becomes one `events` line; an inserted or modified SESSION item one
  `sessions` line holding the whole metadata after the change. Nothing else is ever a line
  (the event source mapping's filter already keeps the rest out; this module refuses it again).
- `dt` is the UTC date the service received the data: the event's `receivedMs`, the session's
  `changedMs` (its start, or the metadata update).
- An object holds the lines of one partition (kind, app, dt) from one delivery, in stream order,
  and is named by the stream sequence numbers of its last and first line. Sorted by name, a
  partition lists its objects by position in the stream: `export.py` lists the few objects that
  can overlap a batch to skip lines an earlier attempt already wrote (README, "Exactly once").
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from countersign import clock
from countersign.numerals import decimal_at_most
from countersign.store.data import SessionRecord, StoredEvent, stream_change

Kind = Literal["events", "sessions"]
KINDS: tuple[Kind, ...] = ("events", "sessions")
#: DynamoDB stream sequence numbers are at most 40 digits: padded, names sort in stream order.
SEQUENCE_DIGITS = 40
OBJECT_SUFFIX = ".jsonl.gz"
#: Every character str.splitlines() ends a line at; a lake line holds none of them but its final "\n".
LINE_BREAKS = "\n\x0b\x0c\r\x1c\x1d\x1e\x85\u2028\u2029"
_DIGEST_CHARS = 12
#: The fields of each record, in the order the lines write them (the Glue tables list them too).
EVENT_FIELDS = (
    "eventId", "appId", "sessionId", "visitorId", "accountId", "type", "name", "timestamp",
    "insertId", "properties", "context", "receivedAt", "verification",
)  # fmt: skip
SESSION_FIELDS = (
    "sessionId", "appId", "visitorId", "accountId", "anonymous", "visitor", "account", "verification",
    "startedAt", "expiresAt", "metadataVersion", "change", "changedAt",
)  # fmt: skip
VERIFICATION_FIELDS = ("mode", "keyName", "kid")


@dataclass(frozen=True)
class LakeLine:
    """One record of the lake and where it goes."""

    kind: Kind
    app_id: str
    dt: str  # YYYY-MM-DD, UTC
    sequence: int  # the stream record's sequence number
    identity: str  # what makes the line unique in its partition: eventId, or sessionId@version
    record: dict[str, Any]
    #: When the service received it (an event), or when its session started: an erasure's bound.
    received_ms: int = 0

    @property
    def partition(self) -> Partition:
        return Partition(self.kind, self.app_id, self.dt)


@dataclass(frozen=True, order=True)
class Partition:
    kind: Kind
    app_id: str
    dt: str

    @property
    def prefix(self) -> str:
        return f"{self.kind}/app={self.app_id}/dt={self.dt}/"


@dataclass(frozen=True)
class ObjectName:
    """`<prefix><last>-<first>-<digest>.jsonl.gz`.

    `last` and `first` are the stream sequence numbers of the object's last and first line;
    `digest` is a short hash of its lines' identities, so two objects never share a name unless
    they hold the same lines (whatever shard numbered them).
    """

    partition: Partition
    first: int
    last: int
    digest: str

    @property
    def key(self) -> str:
        return f"{self.partition.prefix}{_padded(self.last)}-{_padded(self.first)}-{self.digest}{OBJECT_SUFFIX}"


def object_name(partition: Partition, lines: Iterable[LakeLine]) -> ObjectName:
    ordered = sorted(lines, key=lambda line: line.sequence)
    digest = hashlib.sha256("\n".join(line.identity for line in ordered).encode("utf-8", "surrogatepass"))
    return ObjectName(partition, ordered[0].sequence, ordered[-1].sequence, digest.hexdigest()[:_DIGEST_CHARS])


def parse_object_key(key: str) -> ObjectName | None:
    """The name a key of the lake stands for, or None for anything else under the bucket."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] not in KINDS or not parts[3].endswith(OBJECT_SUFFIX):
        return None
    if not parts[1].startswith("app=") or not parts[2].startswith("dt="):
        return None
    fields = parts[3][: -len(OBJECT_SUFFIX)].split("-")
    if len(fields) != 3:
        return None
    # Anyone who can write to the bucket can name an object: sequences are read by the one rule.
    last, first = (decimal_at_most(field, _MAX_SEQUENCE) for field in fields[:2])
    if last is None or first is None or max(last, first) > _MAX_SEQUENCE:
        return None
    kind: Kind = "events" if parts[0] == "events" else "sessions"
    return ObjectName(Partition(kind, parts[1][4:], parts[2][3:]), first, last, fields[2])


def start_after_key(partition: Partition, sequence: int) -> str:
    """A key just after every object of `partition` whose last line is before `sequence`:
    listing after it gives the objects that end at or after `sequence`, first to end first."""
    return f"{partition.prefix}{_padded(sequence - 1)}-~"  # "~" sorts after every digit


def lake_line(stream_record: dict[str, Any]) -> LakeLine | None:
    """The lake line of one DynamoDB stream record (Lambda's shape), or None if it is not one."""
    change = stream_change(stream_record)
    if change is None:
        return None
    if isinstance(change.item, StoredEvent):
        return _event_line(change.item, change.sequence) if change.inserted else None
    return _session_line(change.item, change.sequence, "started" if change.inserted else "updated")


def line_identity(kind: Kind, record: dict[str, Any]) -> str:
    """The identity of a line read back from the lake (the same as `LakeLine.identity`)."""
    if kind == "events":
        return str(record["eventId"])
    return f"{record['sessionId']}@{record['metadataVersion']}"


def encode_object(lines: Iterable[LakeLine]) -> bytes:
    """gzip JSON Lines in stream order; the same lines give the same bytes (no timestamp in the header)."""
    ordered = sorted(lines, key=lambda line: line.sequence)
    text = "".join(json_line(line.record) + "\n" for line in ordered)
    return gzip.compress(text.encode("utf-8", "surrogatepass"), compresslevel=6, mtime=0)


def json_line(record: dict[str, Any]) -> str:
    """One record as one line: JSON escapes the line breaks below U+0020 itself; the other three
    (U+0085, U+2028, U+2029) are valid raw in a JSON string, but str.splitlines(), JavaScript and
    some JSON Lines readers end a line at them, so they are written escaped too."""
    return _LINE.encode(record).translate(_ESCAPED_BREAKS)


def encode_records(records: Iterable[dict[str, Any]]) -> bytes:
    """Records read back from an object, encoded as `encode_object` wrote them (an erasure's rewrite)."""
    text = "".join(json_line(record) + "\n" for record in records)
    return gzip.compress(text.encode("utf-8", "surrogatepass"), compresslevel=6, mtime=0)


def decode_object(data: bytes) -> list[dict[str, Any]]:
    """The records of an object, split at "\n" only: objects written before `json_line` escaped
    U+0085, U+2028 and U+2029 hold them raw inside strings."""
    text = gzip.decompress(data).decode("utf-8", "surrogatepass")
    return [json.loads(line) for line in text.split("\n") if line]


# records ---------------------------------------------------------------------------------------


def event_line(event: StoredEvent, sequence: int = 0) -> LakeLine:
    """The lake line of an accepted event read from DataTable (backfill: no stream record, so
    sequence 0 unless given)."""
    return _event_line(event, sequence)


def _event_line(event: StoredEvent, sequence: int) -> LakeLine:
    payload = event.payload
    record = {
        "eventId": event.dedupe_key,
        "appId": event.app_id,
        "sessionId": event.session_id,
        "visitorId": event.visitor_id,
        "accountId": event.account_id,
        "type": payload["type"],
        "name": payload.get("name"),
        "timestamp": payload["timestamp"],
        "insertId": payload.get("insertId"),
        "properties": payload.get("properties"),
        "context": payload.get("context"),
        "receivedAt": clock.iso(event.received_ms / 1000, milliseconds=True),
        "verification": _verification(event.verified_by, event.key_name, event.kid),
    }
    day = clock.utc_day(event.received_ms / 1000)
    return LakeLine("events", event.app_id, day, sequence, event.dedupe_key, record, event.received_ms)


def _session_line(session: SessionRecord, sequence: int, change: str) -> LakeLine:
    version = session.metadata_version
    record = {
        "sessionId": session.session_id,
        "appId": session.app_id,
        "visitorId": session.visitor_id,
        "accountId": session.account_id,
        "anonymous": session.anonymous,
        "visitor": session.visitor,
        "account": session.account,
        "verification": _verification(session.signed or "unsigned", session.key_name, session.kid),
        "startedAt": clock.iso(session.created_ms / 1000, milliseconds=True),
        "expiresAt": clock.iso(int(session.expires_at * 1000) / 1000, milliseconds=True),
        "metadataVersion": version,
        "change": change,
        # When this version was written: the tables partition sessions by it (SPEC 6.2).
        "changedAt": clock.iso(session.metadata_changed_ms / 1000, milliseconds=True),
    }
    day = clock.utc_day(session.metadata_changed_ms / 1000)
    identity = f"{session.session_id}@{version}"
    return LakeLine("sessions", session.app_id, day, sequence, identity, record, session.created_ms)


def _verification(mode: str, key_name: str | None, kid: str | None) -> dict[str, str]:
    verification = {"mode": mode}
    if key_name is not None:
        verification["keyName"] = key_name
    if kid is not None:
        verification["kid"] = kid
    return verification


_MAX_SEQUENCE = 10**SEQUENCE_DIGITS - 1


def _padded(sequence: int) -> str:
    return str(sequence).zfill(SEQUENCE_DIGITS)


_LINE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ESCAPED_BREAKS = str.maketrans({ch: f"\\u{ord(ch):04x}" for ch in "\x85\u2028\u2029"})
