"""Every error the API can answer, in one table: code -> (HTTP status, default message, is a drop).

Handlers and the verification core raise `ApiError(code)`; the resolver maps it to
`{"error": {"code", "message"}}` once (see `countersign.api`). Messages never carry secrets.
`ErrorCode` names the table's rows for mypy, so a misspelt code is a type error; an import-time
check keeps the two in step.
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
    """One row of the table. A drop is a refusal of SPEC 3.4: counted by reason for diagnostics."""

    status: int
    message: str
    drop: bool = False


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
    "unsigned_metadata_rejected": Answer(403, "This application only accepts signed metadata.", drop=True),
    "signed_metadata_disabled": Answer(403, "This application does not accept HS256-signed metadata.", drop=True),
    "unknown_signing_key": Answer(401, "The signing key name is not one of this application's keys.", drop=True),
    "revoked_signing_key": Answer(401, "The signing key was revoked.", drop=True),
    "invalid_signature": Answer(401, "The token signature does not verify.", drop=True),
    "rs256_not_configured": Answer(
        403, "This application does not accept RS256-signed metadata (RS256 off or no saved JWKS URI).", drop=True
    ),
    "unknown_kid": Answer(401, "The token's kid is missing or not in the application's JWK Set.", drop=True),
    "unsupported_token": Answer(401, "This token's algorithm or header is not accepted.", drop=True),
    "malformed_token": Answer(400, "The token is not a well-formed JWT.", drop=True),
    "token_expired": Answer(401, "The token has expired.", drop=True),
    "token_not_yet_valid": Answer(401, "The token is not valid yet (nbf).", drop=True),
    "invalid_claims": Answer(400, "The token claims are not valid.", drop=True),
    "missing_nonce": Answer(400, "The claims need a non-empty string nonce at the top level.", drop=True),
    "signing_key_name_required": Answer(400, "An HS256 token needs a signingKeyName.", drop=True),
    "identity_mismatch": Answer(409, "The id must equal the session's own visitor or account id.", drop=True),
    "subject_suppressed": Answer(
        403,
        "This visitor or account asked to be forgotten: its new data is refused until the suppression is lifted.",
        drop=True,
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

#: Why one event of a batch is rejected by its index (answer 200, `rejected: [{index, code, message}]`).
EventRejection = Literal["invalid_event", "invalid_context", "event_too_old", "event_in_future"]
EVENT_REJECTIONS: dict[EventRejection, str] = {
    "invalid_event": "The event is not valid.",
    "invalid_context": "The event's context is not a JSON object of at most 8 KiB.",
    "event_too_old": "The event is older than the dedupe window and cannot be accepted.",
    "event_in_future": "The event's timestamp is more than one hour in the future.",
}

if set(get_args(ErrorCode)) != set(ERRORS) or set(get_args(EventRejection)) != set(EVENT_REJECTIONS):
    raise RuntimeError("ErrorCode / EventRejection and their tables list different codes")

#: The codes with `drop` set, for checks that want them as a set.
DROP_CODES = frozenset(code for code, answer in ERRORS.items() if answer.drop)

RETRY_AFTER_SECONDS = 1


class ApiError(Exception):
    """A request that ends with one of the answers in `ERRORS`."""

    def __init__(self, code: ErrorCode, message: str | None = None, **extra: Any) -> None:
        status, default_message, drop = ERRORS[code]
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
