"""Sessions, events, receipts and drops in DataTable: the ingest path's only data access (its
counters are `store.counters`).

Item layout (`pk` / `sk`; every key starts with the application id):

    SESSION#<appId>#<sessionId>   SESSION            a session: ids, metadata, how it was verified
    EVENT#<appId>#<dedupeKey>     EVENT              an accepted event; it IS the dedupe record
                                                     (both carry all their lake record needs: SPEC 6)
    RAW#<appId>#<shard>           <ms>#<batchId>     receipt of one batch: the keys it stored, newest first;
                                                     its `visitorReceipts` (<appId>#<visitorId>) puts it in
                                                     the sparse index VisitorReceipts (sort key `sk`)
    STATS#<appId>#<shard>         HOUR#<utc hour>    one hour's counters and the rate window: written
                                                     and read by `store.counters` only
    DROPS#<appId>#<shard>         <ms>#<random>      one recent drop (reason, time, keyName/kid)

Why this shape (docs/cost-and-scale.md has the arithmetic):
- An event key is a hash, so one application's events spread over every partition; the write is
  one conditional PutItem (`attribute_not_exists`) with no index to maintain: 1 WCU per small
  event, the DynamoDB floor.
- Listing recent events needs time order, which a content key cannot give. Instead of a GSI
  on events (a second write unit per event) each batch writes one receipt listing its event keys,
  spread over RAW_SHARDS partitions and read newest first by merging the shards.
- Listing one visitor's events reads that visitor's receipts only: the receipts are indexed by
  application and visitor (VisitorReceipts, keys only: one index write unit per batch, whatever
  its size), so the cost never grows with other visitors' traffic. Only receipts carry the
  index key, so no other item is written to the index.
- Drop logs are sharded too (as the counters are), so no single item takes every write of a busy app.
All items carry `ttl`: events live for the dedupe window past their timestamp, sessions until
they end, receipts and drops for the dedupe window.

Erasing a subject (SPEC 9, `subject_items` / `delete_items`): its sessions and events are found
by a Scan of the table filtered on their `visitorId` / `accountId` (the table holds only the
dedupe window; an index would cost a write per event for a rare request), its receipts by its
visitors' partitions of VisitorReceipts. Drops and counters hold no subject ids and stay.
"""

from __future__ import annotations

import base64
import heapq
import json
import re
import secrets
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from countersign import aws, container
from countersign.config import get_config
from countersign.errors import DependencyUnavailable
from countersign.policy import TokenKind
from countersign.store._attributes import number, string, typed

RAW_SHARDS = 16
#: DataTable's sparse index of receipts: partition `visitorReceipts` (<appId>#<visitorId>), sort key `sk`.
VISITOR_RECEIPTS_INDEX = "VisitorReceipts"
DROP_SHARDS = 16
_WRITE_THREADS = 32


class SessionChanged(Exception):
    """The session's metadata was updated by someone else since it was read."""


@dataclass(frozen=True)
class SessionRecord:
    app_id: str
    session_id: str
    visitor_id: str
    account_id: str
    visitor: dict[str, Any]
    account: dict[str, Any]
    anonymous: bool
    signed: TokenKind | None
    key_name: str | None
    kid: str | None
    created_ms: int
    expires_at: float  # epoch seconds: the session ends here
    metadata_version: int = 1
    changed_ms: int | None = None  # when the metadata last changed; None: at the start

    @property
    def metadata_changed_ms(self) -> int:
        return self.created_ms if self.changed_ms is None else self.changed_ms


@dataclass(frozen=True)
class EventRecord:
    dedupe_key: str
    payload: dict[str, Any]
    timestamp_ms: int


@dataclass(frozen=True)
class StoredEvent:
    """An accepted event as DataTable holds it (its dedupe record): everything its lake line needs."""

    app_id: str
    dedupe_key: str
    payload: dict[str, Any]
    session_id: str
    visitor_id: str
    account_id: str
    received_ms: int
    batch_id: str
    verified_by: str  # how its session was verified: "hs256", "rs256" or "unsigned"
    key_name: str | None
    kid: str | None


@dataclass(frozen=True)
class StreamChange:
    """One record of DataTable's stream whose new image is a session or an event, typed."""

    sequence: int  # the stream sequence number: the record's position in its shard
    inserted: bool  # INSERT; else MODIFY
    item: SessionRecord | StoredEvent


def stream_change(record: dict[str, Any]) -> StreamChange | None:
    """The typed new image of one stream record (Lambda's shape, NEW_IMAGE), or None when the
    record is not an insert or change of a session or an event (a receipt, a counter, a removal)."""
    change = record.get("eventName")
    body = record.get("dynamodb") or {}
    image = body.get("NewImage")
    if not image or change not in ("INSERT", "MODIFY"):
        return None
    item = stored_item(image)
    if item is None:
        return None
    return StreamChange(int(body["SequenceNumber"]), change == "INSERT", item)


def stored_item(item: dict[str, Any]) -> SessionRecord | StoredEvent | None:
    """A DataTable item (attribute values, as GetItem, Query and streams give them) as typed
    values if it is a session or an event, else None."""
    values = typed(item)
    if values["sk"] not in ("SESSION", "EVENT"):
        return None
    _, app_id, identity = str(values["pk"]).split("#", 2)  # SESSION#<appId>#<id>, EVENT#<appId>#<key>
    if values["sk"] == "SESSION":
        return _session_record(app_id, identity, values)
    return _stored_event(app_id, identity, values)


@dataclass(frozen=True)
class ListingPosition:
    """Where an event stands in the raw-events listing: its receipt's sort key
    (<received ms, 13 digits>#<batchId>) and its index in that receipt, newest first."""

    receipt: str
    index: int

    def to_cursor(self) -> str:
        """The opaque text a client sends back to list on from here."""
        return base64.urlsafe_b64encode(f"{self.receipt}|{self.index}".encode()).decode().rstrip("=")

    @classmethod
    def from_cursor(cls, cursor: str) -> ListingPosition | None:
        """The position a cursor of `to_cursor` names, or None if it is not one."""
        if not _CURSOR_SHAPE.fullmatch(cursor):
            return None
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return None
        found = _POSITION_SHAPE.fullmatch(text)
        return cls(found["receipt"], int(found["index"])) if found else None


_CURSOR_SHAPE = re.compile(r"[A-Za-z0-9_-]+")
_POSITION_SHAPE = re.compile(r"(?P<receipt>[0-9]{13}#[0-9a-f]{32})\|(?P<index>[0-9]{1,3})")


@dataclass
class WriteOutcome:
    """What the conditional writes of one batch found."""

    stored: list[str] = field(default_factory=list)  # written by this request
    earlier_attempt: list[str] = field(default_factory=list)  # written before by the same batch (a retry)
    duplicates: list[str] = field(default_factory=list)  # written before by another batch
    write_units: float = 0.0


@dataclass
class SubjectItems:
    """The keys of every DataTable item that holds a subject's data."""

    sessions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.sessions) + len(self.events) + len(self.receipts)


class DataStore:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    # sessions ----------------------------------------------------------------------------------

    def put_session(self, session: SessionRecord, *, ttl_grace_seconds: int = 3600) -> None:
        item = {
            **_session_key(session.app_id, session.session_id),
            "visitorId": string(session.visitor_id),
            "accountId": string(session.account_id),
            "visitor": string(_json(session.visitor)),
            "account": string(_json(session.account)),
            "anonymous": {"BOOL": session.anonymous},
            "signed": string(session.signed or "unsigned"),
            "createdMs": number(session.created_ms),
            # When the metadata last changed: the lake files each version under that UTC day.
            "changedMs": number(session.created_ms),
            "expiresAt": number(session.expires_at),
            "metadataVersion": number(session.metadata_version),
            "ttl": number(int(session.expires_at) + ttl_grace_seconds),
        }
        if session.key_name:
            item["keyName"] = string(session.key_name)
        if session.kid:
            item["kid"] = string(session.kid)
        with aws.calling("dynamodb"):
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get_session(self, app_id: str, session_id: str) -> SessionRecord | None:
        with aws.calling("dynamodb"):
            item = self.client.get_item(
                TableName=self.table, Key=_session_key(app_id, session_id), ConsistentRead=True
            ).get("Item")
        if not item:
            return None
        return _session_record(app_id, session_id, typed(item))

    def replace_metadata(
        self, session: SessionRecord, visitor: dict[str, Any], account: dict[str, Any], *, changed_ms: int
    ) -> None:
        """Write merged metadata only if nobody else did since `session` was read."""
        try:
            with aws.calling("dynamodb"):
                self.client.update_item(
                    TableName=self.table,
                    Key=_session_key(session.app_id, session.session_id),
                    UpdateExpression=(
                        "SET visitor = :visitor, account = :account, metadataVersion = :next, changedMs = :changed"
                    ),
                    ConditionExpression="metadataVersion = :expected",
                    ExpressionAttributeValues={
                        ":visitor": string(_json(visitor)),
                        ":account": string(_json(account)),
                        ":next": number(session.metadata_version + 1),
                        ":changed": number(changed_ms),
                        ":expected": number(session.metadata_version),
                    },
                )
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise SessionChanged from error

    # events ------------------------------------------------------------------------------------

    def put_events(
        self, session: SessionRecord, events: list[EventRecord], *, batch_id: str, received_ms: int
    ) -> WriteOutcome:
        """One conditional PutItem per event, issued concurrently; no read before write.

        Every write is awaited before returning. If any failed for a reason other than its
        condition, DependencyUnavailable is raised after all of them finished: the SDK retries
        the same request, and dedupe makes the retry store each event exactly once.
        """
        window = get_config().dedupe_window_seconds
        verification = _verification_attributes(session)

        def put(event: EventRecord) -> tuple[str, str, float]:
            item = {
                "pk": string(f"EVENT#{session.app_id}#{event.dedupe_key}"),
                "sk": string("EVENT"),
                "payload": string(_json(event.payload)),
                "sessionId": string(session.session_id),
                "visitorId": string(session.visitor_id),
                "accountId": string(session.account_id),
                "receivedMs": number(received_ms),
                "batchId": string(batch_id),
                # The record must outlive the window its timestamp can still be replayed in.
                "ttl": number(max(event.timestamp_ms, received_ms) // 1000 + window),
                **verification,
            }
            try:
                with aws.calling("dynamodb"):
                    answer = self.client.put_item(
                        TableName=self.table,
                        Item=item,
                        ConditionExpression="attribute_not_exists(pk)",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        ReturnConsumedCapacity="TOTAL",
                    )
            except self.client.exceptions.ConditionalCheckFailedException as error:
                old_batch = error.response.get("Item", {}).get("batchId", {}).get("S")
                return event.dedupe_key, "earlier_attempt" if old_batch == batch_id else "duplicate", 0.0
            units = float(answer.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))
            return event.dedupe_key, "stored", units

        outcome = WriteOutcome()
        failure: BaseException | None = None
        futures = [_writer_pool().submit(put, event) for event in events]
        for future in futures:
            try:
                key, result, units = future.result()
            except Exception as error:  # noqa: BLE001 - collect, then fail once all writes are done
                failure = failure or error
                continue
            outcome.write_units += units
            {"stored": outcome.stored, "earlier_attempt": outcome.earlier_attempt, "duplicate": outcome.duplicates}[
                result
            ].append(key)
        if failure is not None:
            raise failure
        return outcome

    def put_receipt(self, session: SessionRecord, *, batch_id: str, keys: list[str], received_ms: int) -> None:
        """Record which events one batch stored, so raw events can be listed newest first."""
        item = {
            "pk": string(f"RAW#{session.app_id}#{_shard(batch_id, RAW_SHARDS)}"),
            "sk": string(f"{received_ms:013d}#{batch_id}"),
            "batchId": string(batch_id),
            "sessionId": string(session.session_id),
            # The visitor, as the key of its partition of VisitorReceipts (no second copy).
            "visitorReceipts": string(_visitor_receipts_key(session.app_id, session.visitor_id)),
            "keys": {"L": [string(key) for key in keys]},
            "ttl": number(received_ms // 1000 + get_config().dedupe_window_seconds),
        }
        with aws.calling("dynamodb"):
            self.client.put_item(TableName=self.table, Item=item)

    def newest_events(
        self, app_id: str, *, visitor_id: str | None, page: int, start: ListingPosition | None = None
    ) -> Iterator[tuple[ListingPosition, dict[str, Any]]]:
        """The accepted events, newest batch first, each with its position in the listing and how
        its session was verified; from `start` (a position an earlier listing gave) when given.

        Receipts are read newest first and their events `page` at a time, only as the caller
        iterates: a page of receipts naming events already shown (a retried batch writes its
        receipt again) never cuts the listing short. With `visitor_id` the receipts come from that
        visitor's partition of VisitorReceipts, so other visitors' traffic costs nothing. A
        listing resumed at `start` does not know what was shown before it: an event whose retried
        batch has receipts on both sides of `start` can be shown on both pages.
        """
        until = start.receipt if start is not None else None
        receipts = (
            self._app_receipts(app_id, page=page, until=until)
            if visitor_id is None
            else self._visitor_receipts(app_id, visitor_id, page=page, until=until)
        )
        shown: set[str] = set()
        exhausted = False
        while not exhausted:
            wanted: dict[str, tuple[str, ListingPosition]] = {}  # key -> (its receipt's batch, position)
            while len(wanted) < page:
                receipt = next(receipts, None)
                if receipt is None:
                    exhausted = True
                    break
                sort_key = _receipt_order(receipt)
                keys = [key["S"] for key in reversed(receipt["keys"]["L"])]
                first = start.index if start is not None and sort_key == start.receipt else 0
                for index in range(first, len(keys)):
                    if keys[index] not in shown:
                        wanted.setdefault(keys[index], (receipt["batchId"]["S"], ListingPosition(sort_key, index)))
            found = self._get_events(app_id, wanted)
            for key, (batch, position) in wanted.items():
                event = found.get(key)
                # Shown under the batch that stored it, once (a retried batch lists it again).
                if event is None or event.batch_id != batch:
                    continue
                shown.add(key)
                yield position, _event_json(event)

    def receipt_keys_between(self, app_id: str, start_ms: int, end_ms: int) -> dict[str, int]:
        """The event keys named by the receipts written in [start_ms, end_ms), each with the time of
        the earliest receipt naming it (when it was stored, unless its first receipt failed): what
        reconcile counts as accepted (SPEC 6.3). One Query per receipt shard, keys only."""
        found: dict[str, int] = {}
        for shard in range(RAW_SHARDS):
            for receipt in self._items(
                KeyConditionExpression="pk = :pk AND sk BETWEEN :start AND :end",
                ExpressionAttributeValues={
                    ":pk": string(f"RAW#{app_id}#{shard}"),
                    ":start": string(f"{start_ms:013d}"),
                    ":end": string(f"{end_ms - 1:013d}~"),  # "~" sorts after "#<batchId>"
                },
                ProjectionExpression="sk, #keys",
                ExpressionAttributeNames={"#keys": "keys"},
            ):
                at = int(str(receipt["sk"]["S"]).split("#", 1)[0])
                for key in receipt["keys"]["L"]:
                    found[key["S"]] = min(at, found.get(key["S"], at))
        return found

    def accepted_events(self, app_id: str, keys: Iterable[str]) -> dict[str, StoredEvent]:
        """The accepted events DataTable still holds among `keys` (an erased or expired one is absent)."""
        return self._get_events(app_id, list(keys))

    def index_unindexed_receipts(self) -> int:
        """Give every receipt written before VisitorReceipts existed its index key; how many.

        An operator's one-off after upgrading (`countersign upgrade index-receipts`): a Scan of
        the whole table (every item is read once, docs/cost-and-scale.md) and one UpdateItem per
        such receipt. A receipt that expires meanwhile is not written again.
        """
        pages = self.client.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="begins_with(pk, :raw) AND attribute_not_exists(visitorReceipts)",
            ProjectionExpression="pk, sk, visitorId",
            ExpressionAttributeValues={":raw": string("RAW#")},
        )
        indexed = 0
        for page in pages:
            for receipt in page.get("Items", []):
                app_id = receipt["pk"]["S"].split("#")[1]
                try:
                    self.client.update_item(
                        TableName=self.table,
                        Key={"pk": receipt["pk"], "sk": receipt["sk"]},
                        UpdateExpression="SET visitorReceipts = :visitor REMOVE visitorId",
                        ConditionExpression="attribute_exists(pk)",
                        ExpressionAttributeValues={
                            ":visitor": string(_visitor_receipts_key(app_id, receipt["visitorId"]["S"]))
                        },
                    )
                except self.client.exceptions.ConditionalCheckFailedException:
                    continue  # expired and deleted since the scan read it
                indexed += 1
        return indexed

    # erasure (SPEC 9) -------------------------------------------------------------------------

    def subject_items(self, app_id: str, kind: str, subject_id: str) -> SubjectItems:
        """Every session, event and receipt of the application that holds this visitor's or
        account's data (`kind` "visitor" or "account"), read consistently."""
        found = SubjectItems()
        session_ids: set[str] = set()
        visitor_ids: set[str] = set()
        request: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "(begins_with(pk, :sessions) OR begins_with(pk, :events)) AND #subject = :id",
            "ProjectionExpression": "pk, sk, sessionId, visitorId",
            "ExpressionAttributeNames": {"#subject": "visitorId" if kind == "visitor" else "accountId"},
            "ExpressionAttributeValues": {
                ":sessions": string(f"SESSION#{app_id}#"),
                ":events": string(f"EVENT#{app_id}#"),
                ":id": string(subject_id),
            },
            "ConsistentRead": True,
        }
        while True:
            with aws.calling("dynamodb"):
                answer = self.client.scan(**request)
            for item in answer.get("Items", []):
                key = {"pk": item["pk"], "sk": item["sk"]}
                if item["sk"]["S"] == "SESSION":
                    found.sessions.append(key)
                    session_ids.add(item["pk"]["S"].split("#", 2)[2])
                else:
                    found.events.append(key)
                    session_ids.add(item["sessionId"]["S"])
                visitor_ids.add(item["visitorId"]["S"])
            if "LastEvaluatedKey" not in answer:
                break
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        if kind == "visitor":
            visitor_ids.add(subject_id)  # receipts can outlive the events they list
        for visitor_id in sorted(visitor_ids):
            found.receipts.extend(self._receipts_of(app_id, visitor_id, None if kind == "visitor" else session_ids))
        return found

    def delete_items(self, keys: list[dict[str, Any]]) -> int:
        """Delete these items (25 a request, unprocessed ones asked again); how many were asked."""
        for start in range(0, len(keys), 25):
            pending: dict[str, Any] = {
                self.table: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
            }
            for attempt in range(8):
                if attempt:
                    time.sleep(0.05 * 2**attempt)
                with aws.calling("dynamodb"):
                    answer = self.client.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
            if pending:
                raise DependencyUnavailable("dynamodb")
        return len(keys)

    def _receipts_of(self, app_id: str, visitor_id: str, session_ids: set[str] | None) -> list[dict[str, Any]]:
        """The visitor's receipts (all of them, or those of `session_ids` only)."""
        keys: list[dict[str, Any]] = []
        for names in self._query_pages(
            IndexName=VISITOR_RECEIPTS_INDEX,
            KeyConditionExpression="visitorReceipts = :visitor",
            ExpressionAttributeValues={":visitor": string(_visitor_receipts_key(app_id, visitor_id))},
        ):
            keys.extend({"pk": name["pk"], "sk": name["sk"]} for name in names)
        if session_ids is None or not keys:
            return keys
        return [
            {"pk": receipt["pk"], "sk": receipt["sk"]}
            for receipt in self._batch_get(keys)
            if receipt["sessionId"]["S"] in session_ids
        ]

    # drops ------------------------------------------------------------------------------------

    def record_drop(self, app_id: str, drop: dict[str, Any], *, at_ms: int) -> None:
        """Keep one drop (reason, route, keyName/kid, event count) for diagnostics: never a payload."""
        item = {
            "pk": string(f"DROPS#{app_id}#{secrets.randbelow(DROP_SHARDS)}"),
            "sk": string(f"{at_ms:013d}#{secrets.token_hex(4)}"),
            # ASCII JSON: the keyName/kid labels come from unverified requests and may hold a lone
            # surrogate, which DynamoDB cannot store as UTF-8; escaped, every label is storable.
            "drop": string(json.dumps(drop, separators=(",", ":"))),
            "ttl": number(at_ms // 1000 + get_config().dedupe_window_seconds),
        }
        with aws.calling("dynamodb"):
            self.client.put_item(TableName=self.table, Item=item)

    def recent_drops(self, app_id: str, limit: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for shard in range(DROP_SHARDS):
            pages = self._query_pages(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": string(f"DROPS#{app_id}#{shard}")},
                ScanIndexForward=False,
                Limit=limit,
            )
            items.extend(next(pages))  # the newest `limit` of each shard hold the newest `limit` of all
        items.sort(key=lambda item: item["sk"]["S"], reverse=True)
        return [json.loads(item["drop"]["S"]) for item in items[:limit]]

    # helpers -----------------------------------------------------------------------------------

    def _app_receipts(self, app_id: str, *, page: int, until: str | None) -> Iterator[dict[str, Any]]:
        """Every receipt of the application (up to the sort key `until`, included), newest first:
        its RAW_SHARDS partitions merged, each read a page of `page` receipts at a time, a next
        page only when the merge reaches it."""
        shards = [
            self._items(
                KeyConditionExpression="pk = :pk" + (" AND sk <= :until" if until else ""),
                ExpressionAttributeValues={
                    ":pk": string(f"RAW#{app_id}#{shard}"),
                    **({":until": string(until)} if until else {}),
                },
                ScanIndexForward=False,
                Limit=page,
            )
            for shard in range(RAW_SHARDS)
        ]
        return heapq.merge(*shards, key=_receipt_order, reverse=True)

    def _visitor_receipts(
        self, app_id: str, visitor_id: str, *, page: int, until: str | None
    ) -> Iterator[dict[str, Any]]:
        """One visitor's receipts (up to the sort key `until`, included), newest first: a page of
        the index names them (keys only), one BatchGetItem reads them."""
        for names in self._query_pages(
            IndexName=VISITOR_RECEIPTS_INDEX,
            KeyConditionExpression="visitorReceipts = :visitor" + (" AND sk <= :until" if until else ""),
            ExpressionAttributeValues={
                ":visitor": string(_visitor_receipts_key(app_id, visitor_id)),
                **({":until": string(until)} if until else {}),
            },
            ScanIndexForward=False,
            Limit=page,
        ):
            receipts = self._batch_get([{"pk": name["pk"], "sk": name["sk"]} for name in names])
            # An index entry whose receipt just expired finds nothing: skipped.
            yield from sorted(receipts, key=_receipt_order, reverse=True)

    def _get_events(self, app_id: str, keys: Iterable[str]) -> dict[str, StoredEvent]:
        requested = [{"pk": string(f"EVENT#{app_id}#{key}"), "sk": string("EVENT")} for key in keys]
        events = (stored_item(item) for item in self._batch_get(requested))
        return {event.dedupe_key: event for event in events if isinstance(event, StoredEvent)}

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {self.table: {"Keys": keys[start : start + 100]}}
            for _ in range(5):  # unprocessed keys come back under throttling: ask again
                with aws.calling("dynamodb"):
                    answer = self.client.batch_get_item(RequestItems=pending)
                found.extend(answer.get("Responses", {}).get(self.table, []))
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
            if pending:  # still throttled: a 503 the caller retries, never a silently short answer
                raise DependencyUnavailable("dynamodb")
        return found

    def _query_pages(self, **request: Any) -> Iterator[list[dict[str, Any]]]:
        """The pages of one query in order, each read only when the caller asks for it."""
        while True:
            with aws.calling("dynamodb"):
                answer = self.client.query(TableName=self.table, **request)
            yield answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                return
            request = {**request, "ExclusiveStartKey": answer["LastEvaluatedKey"]}

    def _items(self, **request: Any) -> Iterator[dict[str, Any]]:
        for page in self._query_pages(**request):
            yield from page


def _token_kind(stored: str) -> TokenKind | None:
    if stored == "hs256":
        return "hs256"
    if stored == "rs256":
        return "rs256"
    return None


def _session_key(app_id: str, session_id: str) -> dict[str, Any]:
    return {"pk": string(f"SESSION#{app_id}#{session_id}"), "sk": string("SESSION")}


def _verification_attributes(session: SessionRecord) -> dict[str, Any]:
    attributes: dict[str, Any] = {"verifiedBy": string(session.signed or "unsigned")}
    if session.key_name:
        attributes["keyName"] = string(session.key_name)
    if session.kid:
        attributes["kid"] = string(session.kid)
    return attributes


def _session_record(app_id: str, session_id: str, values: dict[str, Any]) -> SessionRecord:
    return SessionRecord(
        app_id=app_id,
        session_id=session_id,
        visitor_id=values["visitorId"],
        account_id=values["accountId"],
        visitor=json.loads(values["visitor"]),
        account=json.loads(values["account"]),
        anonymous=bool(values["anonymous"]),
        signed=_token_kind(values["signed"]),
        key_name=values.get("keyName"),
        kid=values.get("kid"),
        created_ms=int(values["createdMs"]),
        expires_at=float(values["expiresAt"]),
        metadata_version=int(values["metadataVersion"]),
        # Items written before `changedMs` existed were only ever started, never updated.
        changed_ms=int(values["changedMs"]) if "changedMs" in values else None,
    )


def _stored_event(app_id: str, dedupe_key: str, values: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        app_id=app_id,
        dedupe_key=dedupe_key,
        payload=json.loads(values["payload"]),
        session_id=values["sessionId"],
        visitor_id=values["visitorId"],
        account_id=values["accountId"],
        received_ms=int(values["receivedMs"]),
        batch_id=values["batchId"],
        verified_by=values["verifiedBy"],
        key_name=values.get("keyName"),
        kid=values.get("kid"),
    )


def _event_json(event: StoredEvent) -> dict[str, Any]:
    verification: dict[str, Any] = {"mode": event.verified_by}
    if event.key_name is not None:
        verification["keyName"] = event.key_name
    if event.kid is not None:
        verification["kid"] = event.kid
    return {
        **event.payload,
        "sessionId": event.session_id,
        "visitorId": event.visitor_id,
        "accountId": event.account_id,
        "receivedAt": event.received_ms,
        "verification": verification,
    }


def _visitor_receipts_key(app_id: str, visitor_id: str) -> str:
    """A visitor's partition of VisitorReceipts: application ids hold no `#`, so it is unambiguous."""
    return f"{app_id}#{visitor_id}"


def _receipt_order(receipt: dict[str, Any]) -> str:
    return str(receipt["sk"]["S"])  # <received ms, 13 digits>#<batchId>: sorts by time


def _shard(text: str, shards: int) -> int:
    return zlib.crc32(text.encode()) % shards


def _json(value: Any) -> str:
    return _COMPACT.encode(value)


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@lru_cache(maxsize=1)
def _writer_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_WRITE_THREADS, thread_name_prefix="event-writer")


@lru_cache(maxsize=1)
def data_store() -> DataStore:
    """The container's DataStore (one client per container; tests clear this cache)."""
    return DataStore(get_config().data_table, aws.client("dynamodb"))


container.on_reset(data_store.cache_clear)
