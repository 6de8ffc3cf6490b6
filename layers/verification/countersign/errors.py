"""Every error the API can answer, in one table: code -> (HTTP status, default message, is a drop,
and for a drop what the admin does about it).

Handlers and the verification core raise `ApiError(code)`; the resolver maps it to
`{"error": {"code", "message"}}` once (see `countersign.api`). Messages never carry secrets.
`ErrorCode` names the table's rows for mypy, so a misspelt code is a type error; an import-time
check keeps the two in step. `DIAGNOSTIC_REASONS` is what GET /diagnostics serves for every drop
and rejection code (what it means, how to fix it): the console shows that, never its own copy.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, get_args

#: The codes of `ERRORS`, in its order (mypy cannot read dictionary keys as a type).
ErrorCode = Literal[
    "invalid_json",
    "invalid_request",
    "payload_too_large",
    "headers_too_large",
    "not_found",
    "method_not_allowed",
    "unauthorized",
    "forbidden",
    "confirmation_required",
    "no_signing_mode",
    "only_signed_metadata_enabled",
    "settings_conflict",
    "key_not_found",
    "key_revoked",
    "key_limit_reached",
    "key_unreadable",
    "jwks_uri_empty",
    "jwks_uri_invalid",
    "jwks_uri_unreachable",
    "jwks_document_invalid",
    "rs256_disabled",
    "jwks_uri_not_tested",
    "unsigned_metadata_rejected",
    "signed_metadata_disabled",
    "unknown_signing_key",
    "revoked_signing_key",
    "invalid_signature",
    "rs256_not_configured",
    "unknown_kid",
    "unsupported_token",
    "malformed_token",
    "token_expired",
    "token_not_yet_valid",
    "invalid_claims",
    "missing_nonce",
    "signing_key_name_required",
    "identity_mismatch",
    "subject_suppressed",
    "session_not_found",
    "app_not_found",
    "erasure_not_found",
    "suppression_not_found",
    "too_many_events",
    "event_too_large",
    "rate_limited",
    "throttled",
    "request_refused",
    "service_unavailable",
]


class Answer(NamedTuple):
    """One row of the table. A drop is a refusal of SPEC 3.4: counted by reason for diagnostics,
    and `fix` tells the application's admin, in the console's words, how to stop it."""

    status: int
    message: str
    drop: bool = False
    fix: str = ""


ERRORS: dict[ErrorCode, Answer] = {
    # request shape
    "invalid_json": Answer(400, "The request body must be a JSON object."),
    "invalid_request": Answer(400, "The request is not valid."),
    "payload_too_large": Answer(413, "The request body is too large."),
    "headers_too_large": Answer(431, "The request line and headers are too large."),
    "not_found": Answer(404, "No route matches this path."),
    "method_not_allowed": Answer(405, "This method is not allowed on this path."),
    # admin authorization
    "unauthorized": Answer(401, "A valid admin token is required (Authorization: Bearer <token>)."),
    "forbidden": Answer(403, "This admin token belongs to another application."),
    # settings (SPEC 3.1)
    "confirmation_required": Answer(
        400,
        'This change drops data: repeat it with "confirmation": "I understand".',
    ),
    "no_signing_mode": Answer(
        409,
        "Turn on useSignedMetadata, or useRs256SignedMetadata with a saved JWKS URI, "
        "before only allowing signed metadata.",
    ),
    "only_signed_metadata_enabled": Answer(
        409,
        "Turn onlyAllowSignedMetadata off first: signing modes and the JWKS URI are locked while it is on.",
    ),
    "settings_conflict": Answer(
        409,
        "The settings changed while this update was applied; read them again and retry.",
    ),
    # keys
    "key_not_found": Answer(404, "No signing key with this name exists for this application."),
    "key_revoked": Answer(409, "This signing key is revoked; revocation is permanent."),
    "key_limit_reached": Answer(
        409,
        "This application already has five active keys: revoke one before generating another.",
    ),
    # A stored ciphertext that KMS refuses for its own appId/keyName context: never a client's fault,
    # never a retryable outage (so not 503); the key cannot be used again and should be replaced.
    "key_unreadable": Answer(
        500,
        "This signing key's stored secret cannot be decrypted: revoke it and generate a new key.",
    ),
    # JWKS URI (SPEC 3.2: these four messages are quoted exactly)
    "jwks_uri_empty": Answer(422, "The JWKS URI cannot be empty."),
    "jwks_uri_invalid": Answer(422, "The JWKS URI is invalid."),
    "jwks_uri_unreachable": Answer(422, "Failed to access the specified URI"),
    "jwks_document_invalid": Answer(422, "Unable to fetch a JWK Set from the specified URI."),
    "rs256_disabled": Answer(409, "Turn useRs256SignedMetadata on before saving a JWKS URI."),
    "jwks_uri_not_tested": Answer(
        409,
        "Test this exact JWKS URI successfully (POST .../jwks-uri/test) within 15 minutes before saving it.",
    ),
    # acceptance policy drops (SPEC 3.4)
    "unsigned_metadata_rejected": Answer(
        403,
        "This application only accepts signed metadata.",
        drop=True,
        fix=(
            "Pages sent unsigned metadata while Only allow signed metadata is on. Make every page and app version "
            "sign its metadata, or turn Only allow signed metadata off until they do: Coverage shows what is still "
            "unsigned."
        ),
    ),
    "signed_metadata_disabled": Answer(
        403,
        "This application does not accept HS256-signed metadata.",
        drop=True,
        fix="Your server sends HS256 tokens but Use signed metadata is off. Turn it on, or stop sending HS256 tokens.",
    ),
    "unknown_signing_key": Answer(
        401,
        "The signing key name is not one of this application's keys.",
        drop=True,
        fix=(
            "The signingKeyName your server sends is not one of this application's keys. Copy the name from Active "
            "Keys into your server's configuration."
        ),
    ),
    "revoked_signing_key": Answer(
        401,
        "The signing key was revoked.",
        drop=True,
        fix=(
            "Your server still signs with a revoked key. Generate Key, put the new key's name and secret in your "
            "server, and deploy it."
        ),
    ),
    "invalid_signature": Answer(
        401,
        "The token signature does not verify.",
        drop=True,
        fix=(
            "The token was not signed with the named key's secret. Show the key, copy its secret into your server "
            "again, and sign the secret's UTF-8 bytes with HS256."
        ),
    ),
    "rs256_not_configured": Answer(
        403,
        "This application does not accept RS256-signed metadata (RS256 off or no saved JWKS URI).",
        drop=True,
        fix=(
            "RS256 tokens arrive but Use RS256-signed metadata is off or has no saved JWKS URI. Turn it on, then test"
            " and save your JWKS URI."
        ),
    ),
    "unknown_kid": Answer(
        401,
        "The token's kid is missing or not in the application's JWK Set.",
        drop=True,
        fix=(
            "The token's kid is not in your JWK Set. Publish the key at your JWKS URI (Test URI lists the kids it "
            "finds) and put its kid in the token header."
        ),
    ),
    "unsupported_token": Answer(
        401,
        "This token's algorithm or header is not accepted.",
        drop=True,
        fix="Sign with HS256 or RS256 only, without jku, x5u, jwk, x5c or an unknown crit header.",
    ),
    "malformed_token": Answer(
        400,
        "The token is not a well-formed JWT.",
        drop=True,
        fix="Send a compact JWT (three base64url parts joined by dots) made by a JWT library, not hand-built text.",
    ),
    "token_expired": Answer(
        401,
        "The token has expired.",
        drop=True,
        fix=(
            "Tokens expire before they are used. Sign each token when the page loads, give exp more time, and check "
            "your server's clock."
        ),
    ),
    "token_not_yet_valid": Answer(
        401,
        "The token is not valid yet (nbf).",
        drop=True,
        fix="Your server's clock is ahead (nbf is in the future). Synchronise it with NTP, or leave nbf out.",
    ),
    "invalid_claims": Answer(
        400,
        "The token claims are not valid.",
        drop=True,
        fix=(
            "The token's claims do not have the documented types. Check the visitor and account ids and metadata "
            "objects your server puts in the token."
        ),
    ),
    "missing_nonce": Answer(
        400,
        "The claims need a non-empty string nonce at the top level.",
        drop=True,
        fix="Put a fresh random string nonce at the top level of every token's claims.",
    ),
    "signing_key_name_required": Answer(
        400,
        "An HS256 token needs a signingKeyName.",
        drop=True,
        fix="An HS256 token must name its key: send the key's name as signingKeyName with the token.",
    ),
    "identity_mismatch": Answer(
        409,
        "The id must equal the session's own visitor or account id.",
        drop=True,
        fix=(
            "A metadata update named another visitor or account than its session. Sign the update for the session's "
            "own ids, or start a new session for the new visitor."
        ),
    ),
    "subject_suppressed": Answer(
        403,
        "This visitor or account asked to be forgotten: its new data is refused until the suppression is lifted.",
        drop=True,
        fix=(
            "Expected after an erasure: this visitor or account is suppressed, so nothing of it is stored. Only if "
            "the erasure was a mistake, lift its suppression (Privacy) to accept its data again."
        ),
    ),
    "session_not_found": Answer(404, "The session is unknown or expired: start a new session."),
    "app_not_found": Answer(404, "No application with this id accepts data."),
    # erasure (SPEC 9)
    "erasure_not_found": Answer(404, "No erasure with this id exists for this application."),
    "suppression_not_found": Answer(404, "Nothing is suppressed under this id for this application."),
    # events
    "too_many_events": Answer(413, "A batch holds at most 500 events."),
    "event_too_large": Answer(413, "An event is at most 32 KiB as JSON."),
    # tenancy (SPEC 4): the application's own request budget, never another's
    "rate_limited": Answer(
        429,
        "This application sent more requests this second than its limit allows; retry after Retry-After seconds.",
    ),
    # answered by API Gateway itself (template.yaml GatewayResponses), listed so every code has one home
    "throttled": Answer(429, "The service is receiving too many requests; retry after Retry-After seconds."),
    "request_refused": Answer(400, "The API refused the request before it reached the service."),
    # dependencies
    "service_unavailable": Answer(503, "A dependency is unavailable; retry the same request later."),
}


class RejectionReason(NamedTuple):
    """Why one event of a batch was refused, and what the admin does about it."""

    message: str
    fix: str


#: Why one event of a batch is rejected by its index (answer 200, `rejected: [{index, code, message}]`).
EventRejection = Literal["invalid_event", "invalid_context", "event_too_old", "event_in_future"]
EVENT_REJECTIONS: dict[EventRejection, RejectionReason] = {
    "invalid_event": RejectionReason(
        "The event is not valid.",
        "Check what your code passes to the SDK: each event's type, name, timestamp, insertId and properties "
        "must have the documented types and sizes.",
    ),
    "invalid_context": RejectionReason(
        "The event's context is not a JSON object of at most 8 KiB.",
        "Pass the event's context as a plain object, and keep it under 8 KiB as JSON.",
    ),
    "event_too_old": RejectionReason(
        "The event is older than the dedupe window and cannot be accepted.",
        "Events queued longer than the dedupe window are refused: make sure pages send their queue (the SDK "
        "does on the next visit), or ask your operator for a longer window.",
    ),
    "event_in_future": RejectionReason(
        "The event's timestamp is more than one hour in the future.",
        "The device's clock is ahead. Use the current SDK (it corrects for the device clock) or send "
        "timestamps from a trusted clock.",
    ),
}

if set(get_args(ErrorCode)) != set(ERRORS) or set(get_args(EventRejection)) != set(EVENT_REJECTIONS):
    raise RuntimeError("ErrorCode / EventRejection and their tables list different codes")

#: The codes with `drop` set, for checks that want them as a set.
DROP_CODES = frozenset(code for code, answer in ERRORS.items() if answer.drop)

#: Every code GET /diagnostics can count, with what it means and how to fix it (served with the
#: counts, so the console and the CLI show the same words).
DIAGNOSTIC_REASONS: dict[str, dict[str, str]] = {
    **{code: {"meaning": ERRORS[code].message, "fix": ERRORS[code].fix} for code in sorted(DROP_CODES)},
    **{code: {"meaning": reason.message, "fix": reason.fix} for code, reason in EVENT_REJECTIONS.items()},
}
if missing_fix := sorted(code for code, reason in DIAGNOSTIC_REASONS.items() if not reason["fix"]):
    raise RuntimeError(f"drop codes without a fix for the admin (errors.py, Answer.fix): {missing_fix}")

RETRY_AFTER_SECONDS = 1


class ApiError(Exception):
    """A request that ends with one of the answers in `ERRORS`."""

    def __init__(self, code: ErrorCode, message: str | None = None, **extra: Any) -> None:
        status, default_message, drop, _ = ERRORS[code]
        super().__init__(code)
        self.code: ErrorCode = code
        self.status = status
        self.is_drop = drop
        self.message = message or default_message
        # Extra fields (e.g. `detail`) are added next to code and message in the error body.
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}

    def headers(self) -> dict[str, str]:
        if self.status in (429, 503):
            return {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return {}


class DependencyUnavailable(ApiError):
    """DynamoDB, KMS or a JWKS endpoint with nothing cached failed: 503, never a drop.

    `retry_after` (seconds) is when a retry can succeed, where the service knows it (the next
    JWKS fetch a rate limit allows); RETRY_AFTER_SECONDS otherwise.
    """

    def __init__(self, dependency: str, *, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__("service_unavailable")
        self.dependency = dependency
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
