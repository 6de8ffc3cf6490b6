"""The data lake's lines and object names (SPEC 6): a DataTable stream record in, a lake line out. Pure.

    stream record (NEW_IMAGE) -> LakeLine(kind, app, dt, sequence, record) -> partition -> object

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
    change = stream_record.get("eventName")
    body = stream_record.get("dynamodb") or {}
    image = body.get("NewImage")
    if not image or change not in ("INSERT", "MODIFY"):
        return None
    pk, sk = _s(image, "pk"), _s(image, "sk")
    sequence = int(body["SequenceNumber"])
    if sk == "EVENT" and change == "INSERT":
        return _event_line(pk, image, sequence)
    if sk == "SESSION":
        return _session_line(pk, image, sequence, "started" if change == "INSERT" else "updated")
    return None


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


def decode_object(data: bytes) -> list[dict[str, Any]]:
    """The records of an object, split at "\n" only: objects written before `json_line` escaped
    U+0085, U+2028 and U+2029 hold them raw inside strings."""
    text = gzip.decompress(data).decode("utf-8", "surrogatepass")
    return [json.loads(line) for line in text.split("\n") if line]


# records ---------------------------------------------------------------------------------------


def _event_line(pk: str, image: dict[str, Any], sequence: int) -> LakeLine:
    _, app_id, event_id = pk.split("#", 2)
    payload = json.loads(_s(image, "payload"))
    received_ms = int(image["receivedMs"]["N"])
    record = {
        "eventId": event_id,
        "appId": app_id,
        "sessionId": _s(image, "sessionId"),
        "visitorId": _s(image, "visitorId"),
        "accountId": _s(image, "accountId"),
        "type": payload["type"],
        "name": payload.get("name"),
        "timestamp": payload["timestamp"],
        "insertId": payload.get("insertId"),
        "properties": payload.get("properties"),
        "context": payload.get("context"),
        "receivedAt": clock.iso(received_ms / 1000, milliseconds=True),
        "verification": _verification(image, "verifiedBy"),
    }
    return LakeLine("events", app_id, clock.utc_day(received_ms / 1000), sequence, event_id, record)


def _session_line(pk: str, image: dict[str, Any], sequence: int, change: str) -> LakeLine:
    _, app_id, session_id = pk.split("#", 2)
    created_ms = int(image["createdMs"]["N"])
    # Items written before `changedMs` existed were only ever started, never updated.
    changed_ms = int(image["changedMs"]["N"]) if "changedMs" in image else created_ms
    version = int(image["metadataVersion"]["N"])
    record = {
        "sessionId": session_id,
        "appId": app_id,
        "visitorId": _s(image, "visitorId"),
        "accountId": _s(image, "accountId"),
        "anonymous": bool(image["anonymous"]["BOOL"]),
        "visitor": json.loads(_s(image, "visitor")),
        "account": json.loads(_s(image, "account")),
        "verification": _verification(image, "signed"),
        "startedAt": clock.iso(created_ms / 1000, milliseconds=True),
        "expiresAt": clock.iso(int(float(image["expiresAt"]["N"]) * 1000) / 1000, milliseconds=True),
        "metadataVersion": version,
        "change": change,
        # When this version was written: the tables partition sessions by it (SPEC 6.2).
        "changedAt": clock.iso(changed_ms / 1000, milliseconds=True),
    }
    return LakeLine("sessions", app_id, clock.utc_day(changed_ms / 1000), sequence, f"{session_id}@{version}", record)


def _verification(image: dict[str, Any], mode_attribute: str) -> dict[str, str]:
    verification = {"mode": _s(image, mode_attribute)}
    for name in ("keyName", "kid"):
        if name in image:
            verification[name] = _s(image, name)
    return verification


def _s(image: dict[str, Any], name: str) -> str:
    return str(image[name]["S"])


_MAX_SEQUENCE = 10**SEQUENCE_DIGITS - 1


def _padded(sequence: int) -> str:
    return str(sequence).zfill(SEQUENCE_DIGITS)


_LINE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ESCAPED_BREAKS = str.maketrans({ch: f"\\u{ord(ch):04x}" for ch in "\x85\u2028\u2029"})
