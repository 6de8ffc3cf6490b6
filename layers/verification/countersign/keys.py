"""HS256 signing keys (SPEC 3.1): every rule of generate, list, reveal and revoke, in one place.

- Key names are chosen by the service: `key_` and 12 lowercase hex characters (48 random bits),
  e.g. `key_3f9a0c6e21b4`. They are public identifiers (sent as `signingKeyName`), URL-safe, and
  never reused within an application.
- A secret is `css_` followed by `secrets.token_urlsafe(32)`: 32 random bytes (256 bits) in
  base64url, 47 ASCII characters in all. Customers sign with the UTF-8 bytes of this exact
  string (it is not base64-decoded first). The prefix makes a leaked secret easy to recognise.
- A secret is created with its key and is only ever stored sealed by KMS (`countersign.envelope`);
  the key object never carries it, `reveal` decrypts it on request. Revocation is permanent and
  destroys the ciphertext.
- At most `MAX_ACTIVE_KEYS` active keys per application, enforced by a conditional transaction in
  `countersign.store.keys`; a revoked key frees its slot.
- Listing: `activeKeys` newest first (by creation), `revokedKeys` most recently revoked first.
- Every key object carries `lastUsedAt` (SPEC 3.5): the minute of the latest session start or
  metadata update verified with it (never before its `createdAt`), `null` if none; written by
  `countersign.key_usage`.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from countersign import clock, coverage, envelope
from countersign.errors import ApiError
from countersign.key_usage import last_used_at
from countersign.observability import logger, metrics
from countersign.sdk_requests import MAX_KEY_NAME_CHARS
from countersign.settings import is_dry_run
from countersign.store.counters import counter_store
from countersign.store.keys import KeyNameTaken, StoredKey, key_store

MAX_ACTIVE_KEYS = 5
MAX_DESCRIPTION_CHARS = 200
KEY_NAME_PREFIX = "key_"
SECRET_PREFIX = "css_"  # noqa: S105 - a public prefix, not a secret

# What a path's keyName may look like before it costs a read (generated names are far narrower).
_KEY_NAME_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_KEY_NAME_CHARS}}}")
# A random name colliding with an existing one is a 2**-48 event; a few fresh draws settle it.
_NAME_ATTEMPTS = 3


def new_key_name() -> str:
    """A fresh key name: `key_` and 12 random hex characters."""
    return KEY_NAME_PREFIX + secrets.token_hex(6)


def new_secret() -> str:
    """A fresh HS256 secret with 256 bits of entropy (see the module docstring for its format)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def read_description(body: dict[str, Any]) -> str:
    """The description of POST /keys: a string of 1 to MAX_DESCRIPTION_CHARS characters once trimmed."""
    unknown = sorted(set(body) - {"description"})
    if unknown:
        raise ApiError("invalid_request", f"Unknown field(s): {', '.join(unknown)}. A key takes only a description.")
    description = body.get("description")
    if not isinstance(description, str):
        raise ApiError(
            "invalid_request", f"description is required: a string of 1 to {MAX_DESCRIPTION_CHARS} characters."
        )
    description = description.strip()
    if not 1 <= len(description) <= MAX_DESCRIPTION_CHARS:
        raise ApiError(
            "invalid_request",
            f"description must be 1 to {MAX_DESCRIPTION_CHARS} characters once trimmed (it has {len(description)}).",
        )
    return description


def key_json(key: StoredKey, *, last_used_ms: int | None) -> dict[str, Any]:
    """The key object of SPEC 3.1 and 3.5 (never a secret)."""
    return {
        "keyName": key.key_name,
        "description": key.description,
        "status": key.status,
        "createdAt": key.created_at,
        "revokedAt": key.revoked_at,
        "lastUsedAt": last_used_at(last_used_ms, not_before_ms=key.created_ms),
    }


def generate_key(app_id: str, body: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """Create an active key with a new sealed secret; 409 key_limit_reached at five active keys."""
    description = read_description(body)
    moment = now or clock.now()
    for _ in range(_NAME_ATTEMPTS):
        key_name = new_key_name()
        # The context names the key, so the secret is sealed once its name is settled.
        ciphertext = envelope.seal_secret(app_id, key_name, new_secret())
        try:
            created = key_store().create_key(
                app_id, key_name, description, ciphertext, moment, max_active=MAX_ACTIVE_KEYS
            )
        except KeyNameTaken:
            continue
        _audit("KeyCreated", "generate", key_name)
        return key_json(created, last_used_ms=None)
    raise RuntimeError("could not draw an unused key name")


def list_keys(app_id: str) -> dict[str, Any]:
    """`{"activeKeys": [...], "revokedKeys": [...], "activeKeyLimit": 5}`: key objects ordered as
    documented above, and how many may be active (clients show the limit from here, never a copy)."""
    ordered = in_display_order(key_store().list_keys(app_id))
    used = counter_store().last_used(app_id, "key")
    listed = [key_json(key, last_used_ms=used.get(key.key_name)) for key in ordered]
    return {
        "activeKeys": [key for key in listed if key["status"] == "active"],
        "revokedKeys": [key for key in listed if key["status"] == "revoked"],
        "activeKeyLimit": MAX_ACTIVE_KEYS,
    }


def in_display_order(stored: list[StoredKey]) -> list[StoredKey]:
    """Active keys newest first, then revoked keys most recently revoked first."""
    active = sorted(
        (key for key in stored if key.status == "active"), key=lambda k: (k.created_ms, k.key_name), reverse=True
    )
    revoked = sorted(
        (key for key in stored if key.status == "revoked"),
        key=lambda k: (k.revoked_ms or 0, k.created_ms, k.key_name),
        reverse=True,
    )
    return active + revoked


def reveal_secret(app_id: str, key_name: str) -> dict[str, str]:
    """`{"keyName", "secret"}` of an active key; 404 key_not_found, 409 key_revoked."""
    _check_name_shape(key_name)
    sealed = key_store().ciphertext(app_id, key_name)
    if sealed is None:
        raise ApiError("key_not_found")
    if sealed.key.status == "revoked" or sealed.ciphertext is None:
        raise ApiError("key_revoked")
    secret = envelope.open_secret(app_id, key_name, sealed.ciphertext)
    _audit("KeyRevealed", "reveal", key_name)
    return {"keyName": key_name, "secret": secret.decode("utf-8")}


def revoke_key(
    app_id: str, key_name: str, request: dict[str, Any] | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """Revoke an active key for good (its slot is freed); 404 key_not_found, 409 key_revoked.
    With `{"dryRun": true}`, answer what revoking would do instead (`preview_revoke`)."""
    _check_name_shape(key_name)
    if request is not None and is_dry_run(request):
        return preview_revoke(app_id, key_name, now=now)
    stored = key_store().revoke_key(app_id, key_name, now or clock.now())
    revoked = key_json(stored, last_used_ms=counter_store().last_used_of(app_id, "key", key_name))
    _audit("KeyRevoked", "revoke", key_name)
    return revoked


def preview_revoke(app_id: str, key_name: str, *, now: datetime | None = None) -> dict[str, Any]:
    """A revocation's dry-run: the same 404/409 answers, the key as it is, and what revoking it
    would have dropped in the last IMPACT_HOURS (the sessions and events it signed, from the
    coverage counters). Writes nothing; the console and the CLI show this before asking."""
    stored = key_store().get_key(app_id, key_name)
    if stored is None:
        raise ApiError("key_not_found")
    if stored.status == "revoked":
        raise ApiError("key_revoked")
    span = coverage.window(coverage.IMPACT_HOURS, now or clock.now())
    signed = coverage.tally(counter_store().totals(app_id, span.start, span.end)).keys.get(key_name, coverage.Counts())
    return {
        "dryRun": True,
        "key": key_json(stored, last_used_ms=counter_store().last_used_of(app_id, "key", key_name)),
        "impact": {"hours": coverage.IMPACT_HOURS, "wouldDrop": signed.to_json()},
    }


def _audit(metric: str, action: str, key_name: str) -> None:
    """Who did what to which key, never the secret: the admin's app_id (added by `countersign.api`)
    and the request's correlation id are on every line of the function's logger already."""
    logger.info("signing key action", extra={"action": action, "key_name": key_name})
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


def _check_name_shape(key_name: str) -> None:
    if not _KEY_NAME_SHAPE.fullmatch(key_name):
        raise ApiError("key_not_found")
