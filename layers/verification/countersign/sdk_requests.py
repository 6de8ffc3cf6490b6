"""The SDK routes' request bodies (SPEC 3.3), read once at the edge into small typed values.

The ingest handler turns each JSON body into one of these; `ingest`, `verify` and `events` then
work on the values and never see the raw body. Reading a body never refuses it here, except a
missing `sessionId` (the first thing the events route needs): a shape that the table drops (a
`jwt` that is not a string, `metadata` that is not an object) is kept as the value's `refusal`,
so the verification core raises it at the same step as ever and the drop is counted for the
application.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from countersign.errors import ApiError, ErrorCode

#: The longest signingKeyName read from a body (generated names are far shorter).
MAX_KEY_NAME_CHARS = 128

_NEITHER = 'The body needs "jwt" (with "signingKeyName" for HS256) or "metadata".'


@dataclass(frozen=True)
class Credentials:
    """How a session start or a metadata update proves its metadata.

    `proof` is the JWT (signed: HS256 with a `signingKeyName`, or RS256) or the metadata object
    (unsigned); None when the body has neither in a usable shape, with the reason in `refusal`.
    `signing_key_name` is the body's `signingKeyName` if it is a string of 1 to 128 characters.
    """

    proof: str | dict[str, Any] | None
    signing_key_name: str | None = None
    refusal: tuple[ErrorCode, str] | None = None

    @classmethod
    def from_body(cls, body: object) -> Credentials:
        """Read `{"jwt", "signingKeyName"}` or `{"metadata": {...}}`; both or neither is refused."""
        if not isinstance(body, dict):
            return cls(None, refusal=("invalid_request", "The body must be a JSON object."))
        key_name = body.get("signingKeyName")
        name = key_name if isinstance(key_name, str) and 0 < len(key_name) <= MAX_KEY_NAME_CHARS else None
        has_jwt, has_metadata = "jwt" in body, "metadata" in body
        if has_jwt and has_metadata:
            both = "Send either jwt (signed metadata) or metadata (unsigned), not both."
            return cls(None, name, ("invalid_request", both))
        if has_metadata:
            metadata = body["metadata"]
            if not isinstance(metadata, dict):
                return cls(None, name, ("invalid_claims", "metadata must be a JSON object."))
            return cls(metadata, name)
        if has_jwt:
            token = body["jwt"]
            if not isinstance(token, str):
                return cls(None, name, ("malformed_token", "The jwt must be a string."))
            return cls(token, name)
        return cls(None, name, ("invalid_request", _NEITHER))

    @property
    def jwt(self) -> str | None:
        """The JWT, if the body sent one as a string."""
        return self.proof if isinstance(self.proof, str) else None

    def usable_proof(self) -> str | dict[str, Any]:
        """The JWT or the unsigned metadata object; raises the body's refusal if it has neither."""
        if self.proof is None:
            code, message = self.refusal or ("invalid_request", _NEITHER)
            raise ApiError(code, message)
        return self.proof


@dataclass(frozen=True)
class EventsRequest:
    """A batch of events on a session (POST /events).

    `events` is the body's list as sent (each event is checked by `countersign.events`), or None
    when `events` is not a list: that is refused once the session itself has been checked.
    """

    session_id: str
    events: list[Any] | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> EventsRequest:
        """Read `{"sessionId", "events"}`; a sessionId that is not a string is 400 at once."""
        session_id = body.get("sessionId")
        if not isinstance(session_id, str):
            raise ApiError("invalid_request", "sessionId must be the string POST /sessions returned.")
        events = body.get("events")
        return cls(session_id, events if isinstance(events, list) else None)
