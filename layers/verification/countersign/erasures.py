"""The erasure routes' rules (SPEC 9): request an erasure, follow it, list and lift suppressions.

    request -> subject (kind, id) -> keyed hash -> ErasureStore (ControlTable) -> erasure object

The processor (`countersign.erasure_run`) carries erasures out on a schedule; these routes only
record what was asked and show how far it got. The subject's id is hashed before anything is
stored and shown back only in the answer to the request that created the erasure.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from countersign import clock
from countersign.config import get_config
from countersign.errors import ApiError
from countersign.store.erasures import ErasureRecord, SubjectKind, erasure_store
from countersign.subjects import hash_key, seal_subject, subject_hash

MAX_SUBJECT_ID_CHARS = 256
DEFAULT_LIST_LIMIT = 50
#: Path names of the subject kinds (`DELETE .../suppressions/{kind}/{subjectId}`).
KIND_PATHS: dict[str, SubjectKind] = {"visitors": "visitor", "accounts": "account"}
_BODY_FIELDS = {"visitorId": "visitor", "accountId": "account"}
_ERASURE_ID = re.compile(r"er_[0-9]{13}_[0-9a-f]{12}", re.ASCII)


def request_erasure(app_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /erasures: 202 with the new erasure (showing the subject's id this once), or 200 with
    the subject's erasure still pending or running (without the id)."""
    kind, subject_id, suppress = _erasure_request(body)
    key = hash_key(app_id, create=True)
    assert key is not None
    requested = clock.now()
    requested_ms = int(requested.timestamp() * 1000)
    erasure_id = f"er_{requested_ms:013d}_{secrets.token_hex(6)}"
    record = ErasureRecord(
        app_id=app_id,
        erasure_id=erasure_id,
        kind=kind,
        subject_hash=subject_hash(key, kind, subject_id),
        suppress=suppress,
        status="pending",
        requested_at=clock.iso(requested),
        deadline=clock.iso(requested + timedelta(hours=get_config().erasure_deadline_hours)),
        # Encrypted, and only until the erasure completes: what the processor erases by.
        sealed_subject=seal_subject(app_id, erasure_id, subject_id),
    )
    stored = erasure_store().create(record)
    if stored.erasure_id != record.erasure_id:
        return 200, erasure_json(stored)
    answer = erasure_json(stored)
    answer["subject"]["id"] = subject_id
    return 202, answer


def list_erasures(app_id: str) -> dict[str, Any]:
    """GET /erasures: newest first."""
    return {"erasures": [erasure_json(record) for record in erasure_store().recent(app_id, limit=DEFAULT_LIST_LIMIT)]}


def show_erasure(app_id: str, erasure_id: str) -> dict[str, Any]:
    """GET /erasures/{erasureId}."""
    # Junk ids answer 404 without a read (and never reach DynamoDB's key size limit).
    record = erasure_store().get(app_id, erasure_id) if _ERASURE_ID.fullmatch(erasure_id) else None
    if record is None:
        raise ApiError("erasure_not_found")
    return erasure_json(record)


def list_suppressions(app_id: str) -> dict[str, Any]:
    """GET /suppressions: `{"suppressions": [{"kind", "erasureId", "createdAt"}]}` (never an id)."""
    return {
        "suppressions": [
            {"kind": found.kind, "erasureId": found.erasure_id, "createdAt": found.created_at}
            for found in erasure_store().suppressions(app_id)
        ]
    }


def lift_suppression(app_id: str, kind_path: str, subject_id: str) -> None:
    """DELETE /suppressions/{kind}/{subjectId}: 204, or 404 when nothing is suppressed under it."""
    kind = KIND_PATHS.get(kind_path)
    if kind is None:
        raise ApiError("invalid_request", "The kind must be visitors or accounts.")
    _check_subject_id(subject_id, "subjectId")
    key = hash_key(app_id, create=False)
    if key is None or not erasure_store().lift(app_id, kind, subject_hash(key, kind, subject_id)):
        raise ApiError("suppression_not_found")


def erasure_json(record: ErasureRecord) -> dict[str, Any]:
    """The erasure object of SPEC 9 (the subject's kind only: the id is never stored)."""
    return {
        "erasureId": record.erasure_id,
        "subject": {"kind": record.kind},
        "suppress": record.suppress,
        "status": record.status,
        "requestedAt": record.requested_at,
        "deadline": record.deadline,
        "completedAt": record.completed_at,
        "stores": record.stores,
    }


def _erasure_request(body: dict[str, Any]) -> tuple[SubjectKind, str, bool]:
    unknown = sorted(set(body) - {*_BODY_FIELDS, "suppress"})
    if unknown:
        raise ApiError("invalid_request", f"Unknown field {unknown[0]!r}: give visitorId or accountId, and suppress.")
    given = [name for name in _BODY_FIELDS if name in body]
    if len(given) != 1:
        raise ApiError("invalid_request", "Give exactly one of visitorId or accountId.")
    name = given[0]
    subject_id = body[name]
    _check_subject_id(subject_id, name)
    suppress = body.get("suppress", False)
    if not isinstance(suppress, bool):
        raise ApiError("invalid_request", "suppress must be true or false.")
    kind: SubjectKind = "visitor" if name == "visitorId" else "account"
    return kind, subject_id, suppress


def _check_subject_id(subject_id: Any, name: str) -> None:
    if not isinstance(subject_id, str) or not 1 <= len(subject_id) <= MAX_SUBJECT_ID_CHARS:
        raise ApiError("invalid_request", f"{name} must be a string of 1 to {MAX_SUBJECT_ID_CHARS} characters.")
