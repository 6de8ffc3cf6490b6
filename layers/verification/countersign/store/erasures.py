"""Erasures, suppressions and the subject-hash key in ControlTable (SPEC 9).

No item holds a subject's id in clear: a subject is named by its keyed hash (`countersign.subjects`),
so the erasure log is not itself personal data. Item layout:

    APP#<appId>    SUBJECT_KEY                  the application's subject-hash key (KMS ciphertext)
    APP#<appId>    ERASURE#<erasureId>          one erasure: kind, hash, status, deadline, stores;
                                                until it completes, the subject's id sealed by KMS
                                                (what the processor erases by), removed then
    APP#<appId>    ERASING#<kind>#<hash>        the erasure still pending or running for a subject
                                                (a second request answers it; deleted on completion)
    APP#<appId>    ERASED#<kind>#<hash>         what export, backfill and the fold must never write
                                                again: the subject's data received up to `throughMs`
                                                (absent while the erasure runs: all of it); expires
                                                once no retry can still carry such data
    APP#<appId>    SUPPRESS#<kind>#<hash>       a suppressed subject: its new data is refused
    ERASURES       PENDING#<ms>#<appId>#<id>    the processor's queue, oldest first (one partition:
                                                erasures are rare; deleted on completion)

Erasure ids start with the request time (`er_<13-digit ms>_<random>`), so an application's erasures
list newest first by their sort key alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from countersign import aws, container
from countersign.config import get_config
from countersign.store._attributes import app_key, number, string

SubjectKind = Literal["visitor", "account"]
Status = Literal["pending", "running", "completed", "failed"]

_QUEUE_PK = "ERASURES"
_STATUSES: dict[str, Status] = {
    "pending": "pending",
    "running": "running",
    "completed": "completed",
    "failed": "failed",
}
#: Erased markers outlive every way old data can come back: stream records (24 h), the dead-letter
#: queue (14 days) and a redrive of it.
ERASED_MARKER_DAYS = 30


@dataclass
class ErasureRecord:
    """One erasure as stored: never the subject's id."""

    app_id: str
    erasure_id: str
    kind: SubjectKind
    subject_hash: str
    suppress: bool
    status: Status
    requested_at: str
    deadline: str
    completed_at: str | None = None
    stores: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    last_error: str | None = None
    #: The subject's id encrypted by KMS (`countersign.subjects.seal_subject`), until completion.
    sealed_subject: bytes | None = None
    #: Where a pass stopped for want of time, for the next run to go on from (`erasure_run.Pass`);
    #: empty when the next run starts a pass of its own. Never an id: store names, counts, keys.
    progress: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ErasedSubject:
    """An erased subject as export and the fold see it: data received up to `through_ms` is gone
    for good (None: the erasure is still running, so all of it)."""

    kind: SubjectKind
    subject_hash: str
    through_ms: int | None


@dataclass(frozen=True)
class Suppression:
    kind: SubjectKind
    subject_hash: str
    erasure_id: str
    created_at: str


class ErasureStore:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    # the subject-hash key ----------------------------------------------------------------------

    def subject_key(self, app_id: str) -> bytes | None:
        """The sealed subject-hash key of the application, or None before its first erasure."""
        with aws.calling("dynamodb"):
            item = self.client.get_item(TableName=self.table, Key=app_key(app_id, "SUBJECT_KEY")).get("Item")
        return bytes(item["ciphertext"]["B"]) if item else None

    def add_subject_key(self, app_id: str, ciphertext: bytes) -> bytes:
        """Store a sealed key unless one exists; the key the application has from now on."""
        try:
            with aws.calling("dynamodb"):
                self.client.put_item(
                    TableName=self.table,
                    Item={**app_key(app_id, "SUBJECT_KEY"), "ciphertext": {"B": ciphertext}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
        except self.client.exceptions.ConditionalCheckFailedException:
            stored = self.subject_key(app_id)
            if stored is None:  # pragma: no cover - the condition failed on an item that exists
                raise
            return stored
        return ciphertext

    # erasures ----------------------------------------------------------------------------------

    def create(self, record: ErasureRecord) -> ErasureRecord:
        """Store a new erasure, its queue entry, its erased marker and (with `suppress`) its
        suppression, atomically; or return the subject's erasure still pending or running. A
        failed one is retired (it stays in the log) and the new request takes its place."""
        app, subject = record.app_id, f"{record.kind}#{record.subject_hash}"
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {**app_key(app, f"ERASING#{subject}"), "erasureId": string(record.erasure_id)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": {"TableName": self.table, "Item": _erasure_item(record)}},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **_queue_key(record),
                        "appId": string(app),
                        "erasureId": string(record.erasure_id),
                    },
                }
            },
            # Until the erasure completes, nothing of the subject is written to the lake again.
            {"Put": {"TableName": self.table, "Item": {**app_key(app, f"ERASED#{subject}")}}},
        ]
        if record.suppress:
            items.append({"Put": {"TableName": self.table, "Item": _suppression_item(record)}})
        try:
            with aws.calling("dynamodb"):
                self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.TransactionCanceledException as error:
            reasons = error.response.get("CancellationReasons", [])
            if not reasons or reasons[0].get("Code") != "ConditionalCheckFailed":
                raise
            running = self.erasing(app, record.kind, record.subject_hash)
            if running is not None and running.status == "failed":
                self._retire(running)
                running = None
            if running is None:  # finished (or retired) between the two calls: ask again
                return self.create(record)
            return running
        return record

    def _retire(self, failed: ErasureRecord) -> None:
        """Take a failed erasure off the queue and let its subject be requested again (its record
        stays in the log; the erased marker stays in force for the next request)."""
        app, subject = failed.app_id, f"{failed.kind}#{failed.subject_hash}"
        try:
            with aws.calling("dynamodb"):
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "Delete": {
                                "TableName": self.table,
                                "Key": app_key(app, f"ERASING#{subject}"),
                                "ConditionExpression": "erasureId = :failed",
                                "ExpressionAttributeValues": {":failed": string(failed.erasure_id)},
                            }
                        },
                        {"Delete": {"TableName": self.table, "Key": _queue_key(failed)}},
                    ]
                )
        except self.client.exceptions.TransactionCanceledException:
            return  # another request retired it first

    def erasing(self, app_id: str, kind: SubjectKind, subject_hash: str) -> ErasureRecord | None:
        """The subject's erasure still pending or running, if any."""
        with aws.calling("dynamodb"):
            item = self.client.get_item(
                TableName=self.table, Key=app_key(app_id, f"ERASING#{kind}#{subject_hash}"), ConsistentRead=True
            ).get("Item")
        return self.get(app_id, item["erasureId"]["S"]) if item else None

    def get(self, app_id: str, erasure_id: str) -> ErasureRecord | None:
        with aws.calling("dynamodb"):
            item = self.client.get_item(
                TableName=self.table, Key=app_key(app_id, f"ERASURE#{erasure_id}"), ConsistentRead=True
            ).get("Item")
        return _erasure_from_item(app_id, item) if item else None

    def recent(self, app_id: str, *, limit: int) -> list[ErasureRecord]:
        """The application's erasures, newest first."""
        return [_erasure_from_item(app_id, item) for item in self._app_items(app_id, "ERASURE#", limit=limit)]

    def save(self, record: ErasureRecord) -> None:
        """Write the erasure's progress (status, stores, attempts)."""
        with aws.calling("dynamodb"):
            self.client.put_item(TableName=self.table, Item=_erasure_item(record))

    def complete(self, record: ErasureRecord, *, through_ms: int) -> None:
        """Record a completed erasure: its proof, the erased marker's bound, and off the queue."""
        app, subject = record.app_id, f"{record.kind}#{record.subject_hash}"
        expires = through_ms // 1000 + ERASED_MARKER_DAYS * 86400
        with aws.calling("dynamodb"):
            self.client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.table, "Item": _erasure_item(record)}},
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {
                                **app_key(app, f"ERASED#{subject}"),
                                "throughMs": number(through_ms),
                                "ttl": number(expires),
                            },
                        }
                    },
                    {"Delete": {"TableName": self.table, "Key": app_key(app, f"ERASING#{subject}")}},
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": _queue_key(record),
                        }
                    },
                ]
            )

    def queued(self, *, limit: int = 100) -> list[tuple[str, str]]:
        """(appId, erasureId) of the erasures not completed yet, oldest first."""
        with aws.calling("dynamodb"):
            items = self.client.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": string(_QUEUE_PK)},
                ConsistentRead=True,
                Limit=limit,
            )["Items"]
        return [(item["appId"]["S"], item["erasureId"]["S"]) for item in items]

    def erased_subjects(self, app_id: str) -> list[ErasedSubject]:
        """Subjects whose old data must never be written again (export, backfill, fold)."""
        found = []
        for item in self._app_items(app_id, "ERASED#", limit=None):
            kind, subject_hash = _subject_of(item["sk"]["S"].removeprefix("ERASED#"))
            through = int(item["throughMs"]["N"]) if "throughMs" in item else None
            found.append(ErasedSubject(kind, subject_hash, through))
        return found

    # suppressions ------------------------------------------------------------------------------

    def suppressions(self, app_id: str) -> list[Suppression]:
        found = []
        for item in self._app_items(app_id, "SUPPRESS#", limit=None):
            kind, subject_hash = _subject_of(item["sk"]["S"].removeprefix("SUPPRESS#"))
            found.append(Suppression(kind, subject_hash, item["erasureId"]["S"], item["createdAt"]["S"]))
        return sorted(found, key=lambda found: found.created_at, reverse=True)

    def lift(self, app_id: str, kind: SubjectKind, subject_hash: str) -> bool:
        """Remove a suppression; False when there was none."""
        with aws.calling("dynamodb"):
            old = self.client.delete_item(
                TableName=self.table, Key=app_key(app_id, f"SUPPRESS#{kind}#{subject_hash}"), ReturnValues="ALL_OLD"
            ).get("Attributes")
        return bool(old)

    # helpers -----------------------------------------------------------------------------------

    def _app_items(self, app_id: str, prefix: str, *, limit: int | None) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": string(f"APP#{app_id}"), ":prefix": string(prefix)},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while limit is None or len(items) < limit:
            if limit is not None:
                request["Limit"] = limit - len(items)
            with aws.calling("dynamodb"):
                answer = self.client.query(**request)
            items.extend(answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                break
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return items


def _queue_key(record: ErasureRecord) -> dict[str, Any]:
    """The erasure's entry in the queue, oldest request first (its id begins with the time)."""
    requested_ms = int(record.erasure_id.split("_")[1])
    return {"pk": string(_QUEUE_PK), "sk": string(f"PENDING#{requested_ms:013d}#{record.app_id}#{record.erasure_id}")}


def _subject_of(text: str) -> tuple[SubjectKind, str]:
    kind, _, subject_hash = text.partition("#")
    return ("account" if kind == "account" else "visitor"), subject_hash


def _suppression_item(record: ErasureRecord) -> dict[str, Any]:
    return {
        **app_key(record.app_id, f"SUPPRESS#{record.kind}#{record.subject_hash}"),
        "erasureId": string(record.erasure_id),
        "createdAt": string(record.requested_at),
    }


def _erasure_item(record: ErasureRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **app_key(record.app_id, f"ERASURE#{record.erasure_id}"),
        "kind": string(record.kind),
        "subjectHash": string(record.subject_hash),
        "suppress": {"BOOL": record.suppress},
        "status": string(record.status),
        "requestedAt": string(record.requested_at),
        "deadline": string(record.deadline),
        "stores": string(json.dumps(record.stores, separators=(",", ":"))),
        "attempts": number(record.attempts),
    }
    if record.completed_at:
        item["completedAt"] = string(record.completed_at)
    if record.last_error:
        item["lastError"] = string(record.last_error)
    if record.sealed_subject and record.status not in ("completed", "failed"):
        item["sealedSubject"] = {"B": record.sealed_subject}
    if record.progress and record.status == "running":
        item["progress"] = string(json.dumps(record.progress, separators=(",", ":")))
    return item


def _erasure_from_item(app_id: str, item: dict[str, Any]) -> ErasureRecord:
    status = item["status"]["S"]
    kind, _ = _subject_of(item["kind"]["S"])
    return ErasureRecord(
        app_id=app_id,
        erasure_id=item["sk"]["S"].removeprefix("ERASURE#"),
        kind=kind,
        subject_hash=item["subjectHash"]["S"],
        suppress=item["suppress"]["BOOL"],
        status=_STATUSES.get(status, "failed"),
        requested_at=item["requestedAt"]["S"],
        deadline=item["deadline"]["S"],
        completed_at=item.get("completedAt", {}).get("S"),
        stores=json.loads(item["stores"]["S"]),
        attempts=int(item["attempts"]["N"]),
        last_error=item.get("lastError", {}).get("S"),
        sealed_subject=bytes(item["sealedSubject"]["B"]) if "sealedSubject" in item else None,
        progress=json.loads(item["progress"]["S"]) if "progress" in item else {},
    )


@lru_cache(maxsize=1)
def erasure_store() -> ErasureStore:
    """The container's ErasureStore (one client per container; tests clear this cache)."""
    return ErasureStore(get_config().control_table, aws.client("dynamodb"))


container.on_reset(erasure_store.cache_clear)
