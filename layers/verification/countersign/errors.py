"""Every error the API can answer, in one table: code -> (HTTP status, default message).

Handlers and the verification core raise `ApiError(code)`; the resolver maps it to
`{"error": {"code", "message"}}` once (see `countersign.api`). Messages never carry secrets.
"""

from __future__ import annotations

from typing import Any

ERRORS: dict[str, tuple[int, str]] = {
    # request shape
    "invalid_json": (400, "The request body must be a JSON object."),
    "invalid_request": (400, "The request is not valid."),
    "payload_too_large": (413, "The request body is too large."),
    "not_found": (404, "No route matches this path."),
    "method_not_allowed": (405, "This method is not allowed on this path."),
    # admin authorization
    "unauthorized": (401, "A valid admin token is required (Authorization: Bearer <token>)."),
    "forbidden": (403, "This admin token belongs to another application."),
    # settings (SPEC 3.1)
    "confirmation_required": (
        400,
        'This change drops data: repeat it with "confirmation": "I understand".',
    ),
    "no_signing_mode": (
        409,
        "Turn on useSignedMetadata, or useRs256SignedMetadata with a saved JWKS URI, "
        "before only allowing signed metadata.",
    ),
    "only_signed_metadata_enabled": (
        409,
        "Turn onlyAllowSignedMetadata off first: signing modes and the JWKS URI are locked while it is on.",
    ),
    "settings_conflict": (
        409,
        "The settings changed while this update was applied; read them again and retry.",
    ),
    # keys
    "key_not_found": (404, "No signing key with this name exists for this application."),
    "key_revoked": (409, "This signing key is revoked; revocation is permanent."),
    "key_limit_reached": (
        409,
        "This application already has five active keys: revoke one before generating another.",
    ),
    # A stored ciphertext that KMS refuses for its own appId/keyName context: never a client's fault,
    # never a retryable outage (so not 503); the key cannot be used again and should be replaced.
    "key_unreadable": (
        500,
        "This signing key's stored secret cannot be decrypted: revoke it and generate a new key.",
    ),
    # JWKS URI (SPEC 3.2: these four messages are quoted exactly)
    "jwks_uri_empty": (422, "The JWKS URI cannot be empty."),
    "jwks_uri_invalid": (422, "The JWKS URI is invalid."),
    "jwks_uri_unreachable": (422, "Failed to access the specified URI"),
    "jwks_document_invalid": (422, "Unable to fetch a JWK Set from the specified URI."),
    "rs256_disabled": (409, "Turn useRs256SignedMetadata on before saving a JWKS URI."),
    "jwks_uri_not_tested": (
        409,
        "Test this exact JWKS URI successfully (POST .../jwks-uri/test) within 15 minutes before saving it.",
    ),
    # acceptance policy drops (SPEC 3.4)
    "unsigned_metadata_rejected": (403, "This application only accepts signed metadata."),
    "signed_metadata_disabled": (403, "This application does not accept HS256-signed metadata."),
    "unknown_signing_key": (401, "The signing key name is not one of this application's keys."),
    "revoked_signing_key": (401, "The signing key was revoked."),
    "invalid_signature": (401, "The token signature does not verify."),
    "rs256_not_configured": (
        403,
        "This application does not accept RS256-signed metadata (RS256 off or no saved JWKS URI).",
    ),
    "unknown_kid": (401, "The token's kid is missing or not in the application's JWK Set."),
    "unsupported_token": (401, "This token's algorithm or header is not accepted."),
    "malformed_token": (400, "The token is not a well-formed JWT."),
    "token_expired": (401, "The token has expired."),
    "token_not_yet_valid": (401, "The token is not valid yet (nbf)."),
    "invalid_claims": (400, "The token claims are not valid."),
    "missing_nonce": (400, "The claims need a non-empty string nonce at the top level."),
    "signing_key_name_required": (400, "An HS256 token needs a signingKeyName."),
    "identity_mismatch": (409, "The id must equal the session's own visitor or account id."),
    "session_not_found": (404, "The session is unknown or expired: start a new session."),
    "app_not_found": (404, "No application with this id accepts data."),
    # events
    "too_many_events": (413, "A batch holds at most 500 events."),
    "event_too_large": (413, "An event is at most 32 KiB as JSON."),
    # dependencies
    "service_unavailable": (503, "A dependency is unavailable; retry the same request later."),
}

#: Why one event of a batch is rejected by its index (answer 200, `rejected: [{index, code, message}]`).
EVENT_REJECTIONS: dict[str, str] = {
    "invalid_event": "The event is not valid.",
    "event_too_old": "The event is older than the dedupe window and cannot be accepted.",
    "event_in_future": "The event's timestamp is more than one hour in the future.",
}

#: Codes that are drops in the sense of SPEC 3.4: counted by reason for diagnostics.
DROP_CODES = frozenset(
    {
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
    }
)

RETRY_AFTER_SECONDS = 1


class ApiError(Exception):
    """A request that ends with one of the answers in `ERRORS`."""

    def __init__(self, code: str, message: str | None = None, **extra: Any) -> None:
        status, default_message = ERRORS[code]
        super().__init__(code)
        self.code = code
        self.status = status
        self.message = message or default_message
        # Extra fields (e.g. `detail`) are added next to code and message in the error body.
        self.extra = extra

    @property
    def is_drop(self) -> bool:
        return self.code in DROP_CODES

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}

    def headers(self) -> dict[str, str]:
        if self.status == 503:
            return {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return {}


class DependencyUnavailable(ApiError):
    """DynamoDB, KMS or a JWKS endpoint with nothing cached failed: 503, never a drop."""

    def __init__(self, dependency: str) -> None:
        super().__init__("service_unavailable")
        self.dependency = dependency
