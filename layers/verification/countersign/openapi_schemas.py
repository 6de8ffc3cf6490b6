"""The OpenAPI description of every route's request and answers, as plain JSON Schema dicts.

Only the function modules import this (to document their routes); nothing on the request path
reads it, so it costs one small import and no pydantic. Each route passes `admin_route(...)` or
`sdk_route(...)` to its Powertools decorator: the `openapi_extensions` (request body, security)
are merged into the operation as they are, `responses` documents the success answer and the
errors the route can give, all in the one error shape of SPEC 3.

The generated document (the local stack serves it at /openapi.json) is what the property-based
fuzzing of tests/integration/test_fuzz_openapi.py generates requests from, so a schema here must
describe what the route accepts: a body the schema allows is never refused for its shape.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from countersign import claims, coverage, events, sdk_requests, settings, tokens

# Every bound below is the constant the code enforces, imported from the pure module that holds it.
# The few held by modules with AWS behind them (keys, reporting, netguard) are not imported, to keep
# this module cheap for every function: tests/unit/core/test_limits_written_once.py ties them.

#: The admin bearer token (SPEC 3.1); the local stack adds it to the document's components.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The application's admin token (csa_...), as `Authorization: Bearer <token>`.",
    }
}

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                "message": {"type": "string", "minLength": 1},
                "detail": {"type": "string", "description": "Which requirement failed (JWKS URI errors)."},
            },
        }
    },
}

_BOOLEAN = {"type": "boolean"}
_STRING_OR_NULL = {"anyOf": [{"type": "string"}, {"type": "null"}]}
_TIMESTAMP = {"type": "string", "description": "UTC, YYYY-MM-DDTHH:MM:SSZ"}

# request bodies ------------------------------------------------------------------------------

SETTINGS_PATCH: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "anyOf": [{"required": [toggle]} for toggle in settings.TOGGLES],
    "properties": {
        **dict.fromkeys(settings.TOGGLES, _BOOLEAN),
        "confirmation": {
            "type": "string",
            "description": f'Exactly "{settings.CONFIRMATION_PHRASE}" where a rule asks for it.',
        },
        "version": {"type": "integer", "description": "Precondition: the settings' current version."},
        "dryRun": {
            "type": "boolean",
            "description": "true: validate and answer what would change and what it would drop; write nothing.",
        },
    },
}

KEY_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["description"],
    "additionalProperties": False,
    "properties": {"description": {"type": "string", "minLength": 1, "maxLength": 200}},  # keys.MAX_DESCRIPTION_CHARS
}

JWKS_URI: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "uri": {
            "anyOf": [{"type": "string", "maxLength": 2048}, {"type": "null"}],  # netguard.MAX_URI_LENGTH
            "description": "An https URI on a public address, with no query, fragment or userinfo.",
        }
    },
}

_JWT = {
    "type": "string",
    "maxLength": tokens.MAX_TOKEN_CHARS,
    "description": "A compact JWS signed with HS256 (with signingKeyName) or RS256 (with a kid of the JWK Set).",
}
_IDENTITY = {
    "type": "object",
    "properties": {"id": {"type": "string", "maxLength": claims.MAX_ID_CHARS}},
    "description": "Metadata fields; id is the visitor's or account's id.",
}

#: Session start and metadata update: a signed token, or unsigned metadata (SPEC 3.3).
CREDENTIALS: dict[str, Any] = {
    "type": "object",
    "anyOf": [
        {
            "required": ["jwt"],
            "not": {"required": ["metadata"]},
            "properties": {
                "jwt": _JWT,
                "signingKeyName": {"type": "string", "minLength": 1, "maxLength": sdk_requests.MAX_KEY_NAME_CHARS},
            },
        },
        {
            "required": ["metadata"],
            "not": {"required": ["jwt"]},
            "properties": {
                "metadata": {"type": "object", "properties": {"visitor": _IDENTITY, "account": _IDENTITY}},
            },
        },
    ],
}

EVENTS: dict[str, Any] = {
    "type": "object",
    "required": ["sessionId", "events"],
    "properties": {
        "sessionId": {"type": "string"},
        "events": {
            "type": "array",
            "minItems": 1,
            "maxItems": events.MAX_EVENTS,
            "items": {
                "type": "object",
                "required": ["type", "timestamp"],
                "additionalProperties": False,
                "properties": {
                    "type": {"type": "string", "minLength": 1, "maxLength": events.MAX_TYPE_CHARS},
                    "timestamp": {"type": "integer", "minimum": 0, "description": "Epoch milliseconds."},
                    "insertId": {"type": "string", "minLength": 1, "maxLength": events.MAX_INSERT_ID_CHARS},
                    "name": {"type": "string"},
                    "properties": {"type": "object"},
                    "context": {
                        "type": "object",
                        "description": (
                            "Where the event happened (page, library, user agent): at most"
                            f" {events.MAX_CONTEXT_BYTES} bytes of UTF-8 JSON; stored and exported as sent, not part of"
                            " the content dedupe. A larger or non-object context rejects that event alone"
                            " (invalid_context)."
                        ),
                    },
                },
            },
        },
    },
}

# answers -------------------------------------------------------------------------------------

_SETTING_TYPES = {"jwksUri": _STRING_OR_NULL, "version": {"type": "integer"}, "updatedAt": _TIMESTAMP}
#: The settings object: its fields are the ones `Settings.to_json` writes, in that order.
SETTINGS: dict[str, Any] = {
    "type": "object",
    "required": list(settings.Settings().to_json()),
    "properties": {name: _SETTING_TYPES.get(name, _BOOLEAN) for name in settings.Settings().to_json()},
}

_SESSIONS_AND_EVENTS = {
    "type": "object",
    "required": ["sessions", "events"],
    "additionalProperties": False,
    "properties": {"sessions": {"type": "integer", "minimum": 0}, "events": {"type": "integer", "minimum": 0}},
}
_LAST_USED = {
    "anyOf": [{"type": "string"}, {"type": "null"}],
    "description": "UTC to the minute (YYYY-MM-DDTHH:MM:00Z) of the latest session start or metadata update "
    "verified with it; null if never.",
}


def _dry_run(subject: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A dry-run's answer (SPEC 3.5): `subject` as it would be, and what the last IMPACT_HOURS would have lost."""
    return {
        "type": "object",
        "required": ["dryRun", subject, "impact"],
        "additionalProperties": False,
        "properties": {
            "dryRun": {"const": True},
            subject: schema,
            "impact": {
                "type": "object",
                "required": ["hours", "wouldDrop"],
                "additionalProperties": False,
                "properties": {"hours": {"const": coverage.IMPACT_HOURS}, "wouldDrop": _SESSIONS_AND_EVENTS},
            },
        },
    }


#: Changing the settings, or a dry-run of the change (`"dryRun": true`, SPEC 3.5).
SETTINGS_DRY_RUN: dict[str, Any] = _dry_run("settings", SETTINGS)
SETTINGS_CHANGE: dict[str, Any] = {"anyOf": [SETTINGS, SETTINGS_DRY_RUN]}

KEY: dict[str, Any] = {
    "type": "object",
    "required": ["keyName", "description", "status", "createdAt", "revokedAt", "lastUsedAt"],
    "additionalProperties": False,
    "properties": {
        "keyName": {"type": "string"},
        "description": {"type": "string"},
        "status": {"enum": ["active", "revoked"]},
        "createdAt": _TIMESTAMP,
        "revokedAt": _STRING_OR_NULL,
        "lastUsedAt": _LAST_USED,
    },
}

KEY_LIST: dict[str, Any] = {
    "type": "object",
    "required": ["activeKeys", "revokedKeys", "activeKeyLimit"],
    "properties": {
        "activeKeys": {"type": "array", "items": KEY},
        "revokedKeys": {"type": "array", "items": KEY},
        "activeKeyLimit": {
            "const": 5,  # keys.MAX_ACTIVE_KEYS
            "description": "How many keys may be active at once: generating one more answers 409 key_limit_reached.",
        },
    },
}

KEY_REVOKE_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "dryRun": {
            "type": "boolean",
            "description": (
                f"true: revoke nothing; answer the key and what it signed in the last {coverage.IMPACT_HOURS} hours."
            ),
        }
    },
    "description": "Optional: without a body (or with anything else) the key is revoked.",
}

#: A revocation's dry-run: the key as it is and what revoking it would have dropped.
KEY_REVOKE_DRY_RUN: dict[str, Any] = _dry_run("key", KEY)
KEY_REVOKE: dict[str, Any] = {"anyOf": [KEY, KEY_REVOKE_DRY_RUN]}

REVEALED_KEY: dict[str, Any] = {
    "type": "object",
    "required": ["keyName", "secret"],
    "additionalProperties": False,
    "properties": {"keyName": {"type": "string"}, "secret": {"type": "string"}},
}

JWKS_REPORT: dict[str, Any] = {
    "type": "object",
    "required": ["valid", "uri", "keys", "testedAt"],
    "properties": {
        "valid": {"const": True},
        "uri": {"type": "string"},
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kid", "kty", "alg", "bits"],
                "properties": {
                    "kid": {"type": "string"},
                    "kty": {"const": "RSA"},
                    "alg": {"const": "RS256"},
                    "bits": {"type": "integer"},
                },
            },
        },
        "testedAt": _TIMESTAMP,
    },
}

SESSION: dict[str, Any] = {
    "type": "object",
    "required": ["sessionId", "visitorId", "accountId", "signed", "expiresAt"],
    "properties": {
        "sessionId": {"type": "string"},
        "visitorId": {"type": "string"},
        "accountId": {"type": "string"},
        "signed": {"enum": ["hs256", "rs256", None]},
        "expiresAt": _TIMESTAMP,
        "visitor": {"type": "object", "description": "After an update: the merged visitor metadata."},
        "account": {"type": "object", "description": "After an update: the merged account metadata."},
    },
}

EVENTS_ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["accepted", "duplicates", "rejected"],
    "additionalProperties": False,
    "properties": {
        "accepted": {"type": "integer", "minimum": 0},
        "duplicates": {"type": "integer", "minimum": 0},
        "rejected": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "code", "message"],
                "properties": {"index": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

RAW_EVENTS: dict[str, Any] = {
    "type": "object",
    "required": ["events", "count"],
    "properties": {
        "events": {"type": "array", "items": {"type": "object"}},
        "count": {"type": "integer"},
        "nextCursor": {"type": "string", "description": "More events are left: send it as `cursor` to list on."},
    },
}

_COUNTS_BY_REASON = {"type": "object", "additionalProperties": {"type": "integer"}}
_SIGNED_AND_UNSIGNED = {
    "type": "object",
    "required": ["signed", "unsigned"],
    "additionalProperties": False,
    "properties": {"signed": {"type": "integer", "minimum": 0}, "unsigned": {"type": "integer", "minimum": 0}},
}

DIAGNOSTICS: dict[str, Any] = {
    "type": "object",
    "required": ["window", "counts", "recentDrops", "recentDropsHours", "reasons"],
    "properties": {
        "window": {
            "type": "object",
            "description": "The hours the counts cover (the counters' retention, the longest coverage window).",
            "required": ["hours", "from", "to"],
            "properties": {
                "hours": {"type": "integer", "minimum": 1},
                "from": {**_TIMESTAMP, "description": "Start of the oldest hour counted (UTC, on the hour)."},
                "to": {**_TIMESTAMP, "description": "The time of the answer (UTC)."},
            },
        },
        "recentDropsHours": {
            "type": "integer",
            "description": "How long a drop is kept for recentDrops (the dedupe window), in hours.",
        },
        "reasons": {
            "type": "object",
            "description": (
                "Every drop and rejection code the counts can name, with what it means and how the "
                "application's admin fixes it (the console shows these words)."
            ),
            "additionalProperties": {
                "type": "object",
                "required": ["meaning", "fix"],
                "properties": {"meaning": {"type": "string"}, "fix": {"type": "string"}},
            },
        },
        "counts": {
            "type": "object",
            "required": ["accepted", "duplicates", "rejected", "dropped"],
            "properties": {
                "accepted": {"type": "integer"},
                "duplicates": {"type": "integer"},
                "rejected": _COUNTS_BY_REASON,
                "dropped": _COUNTS_BY_REASON,
            },
        },
        "recentDrops": {"type": "array", "items": {"type": "object"}},
    },
}

_BY_MODE = {
    "type": "object",
    "required": ["hs256", "rs256", "unsigned"],
    "additionalProperties": False,
    "properties": {mode: {"type": "integer", "minimum": 0} for mode in ("hs256", "rs256", "unsigned")},
}


def _usage_row(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [name, "sessions", "events", "lastUsedAt"],
        "additionalProperties": False,
        "properties": {
            name: {"type": "string"},
            "sessions": {"type": "integer", "minimum": 0},
            "events": {"type": "integer", "minimum": 0},
            "lastUsedAt": _LAST_USED,
        },
    }


COVERAGE: dict[str, Any] = {
    "type": "object",
    "required": ["hours", "from", "to", "sessions", "events", "keys", "kids", "wouldDrop", "hourly"],
    "additionalProperties": False,
    "properties": {
        "hours": {"type": "integer", "minimum": 1, "maximum": coverage.MAX_HOURS},
        "from": {**_TIMESTAMP, "description": "Start of the oldest hour counted (UTC, on the hour)."},
        "to": {**_TIMESTAMP, "description": "The time of the answer (UTC)."},
        "sessions": _BY_MODE,
        "events": _BY_MODE,
        "keys": {"type": "array", "items": _usage_row("keyName")},
        "kids": {"type": "array", "items": _usage_row("kid")},
        "wouldDrop": _SESSIONS_AND_EVENTS,
        "hourly": {
            "type": "array",
            "description": "Every hour of the window, oldest first: accepted sessions and events signed and unsigned.",
            "items": {
                "type": "object",
                "required": ["hour", "sessions", "events"],
                "additionalProperties": False,
                "properties": {
                    "hour": {**_TIMESTAMP, "description": "Start of the hour (UTC)."},
                    "sessions": _SIGNED_AND_UNSIGNED,
                    "events": _SIGNED_AND_UNSIGNED,
                },
            },
        },
    },
}

# erasure (SPEC 9) ------------------------------------------------------------------------------

ERASURE_CREATE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "oneOf": [{"required": ["visitorId"]}, {"required": ["accountId"]}],
    "properties": {
        "visitorId": {"type": "string", "minLength": 1, "maxLength": 256},  # erasures.MAX_SUBJECT_ID_CHARS
        "accountId": {"type": "string", "minLength": 1, "maxLength": 256},  # erasures.MAX_SUBJECT_ID_CHARS
        "suppress": {"type": "boolean", "description": "Refuse the subject's new data until lifted."},
    },
}
_STORE_REPORT = {
    "type": "object",
    "required": ["removed", "remaining"],
    "properties": {
        "removed": {"type": "object", "additionalProperties": {"type": "integer"}},
        "remaining": {"type": "integer", "description": "What a verification pass still found: 0 when done."},
    },
}
ERASURE: dict[str, Any] = {
    "type": "object",
    "required": ["erasureId", "subject", "suppress", "status", "requestedAt", "deadline", "completedAt", "stores"],
    "properties": {
        "erasureId": {"type": "string"},
        "subject": {
            "type": "object",
            "required": ["kind"],
            "properties": {
                "kind": {"enum": ["visitor", "account"]},
                "id": {"type": "string", "description": "Only in the answer to the request that created it."},
            },
        },
        "suppress": _BOOLEAN,
        "status": {"enum": ["pending", "running", "completed", "failed"]},
        "requestedAt": _TIMESTAMP,
        "deadline": _TIMESTAMP,
        "completedAt": _STRING_OR_NULL,
        "stores": {
            "type": "object",
            "properties": {"dataTable": _STORE_REPORT, "landing": _STORE_REPORT, "tables": _STORE_REPORT},
        },
    },
}
ERASURE_LIST: dict[str, Any] = {
    "type": "object",
    "required": ["erasures"],
    "properties": {"erasures": {"type": "array", "items": ERASURE}},
}
SUPPRESSIONS: dict[str, Any] = {
    "type": "object",
    "required": ["suppressions"],
    "properties": {
        "suppressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind", "erasureId", "createdAt"],
                "properties": {
                    "kind": {"enum": ["visitor", "account"]},
                    "erasureId": {"type": "string"},
                    "createdAt": _TIMESTAMP,
                },
            },
        }
    },
}
#: The answer of a route that answers 204 (no body).
NO_CONTENT: dict[str, Any] = {}

# route documentation -------------------------------------------------------------------------

_ERROR_DESCRIPTIONS = {
    400: (
        "The body or a parameter is not valid (invalid_json, invalid_request, or a malformed token or claims),"
        " or the HTTP request itself is malformed (e.g. its Content-Length)."
    ),
    401: "Missing or invalid admin token, or a token refused by the acceptance policy.",
    403: (
        "Another application's admin token, or a request the application's settings refuse"
        " (or whose subject is suppressed: subject_suppressed)."
    ),
    404: "Unknown key, session, application, erasure or suppression.",
    405: "This method is not allowed on this path.",
    409: "The request conflicts with the current state (see the code and message).",
    413: "The body (or a batch) is over a limit: any route, even one that takes no body.",
    422: "The JWKS URI failed its test (the detail says which requirement).",
    429: (
        "The application is over its requests-per-second limit on these routes (rate_limited), or the API"
        " as a whole is (throttled): retry after Retry-After seconds. Other applications are unaffected."
    ),
    500: "A stored signing secret cannot be decrypted (key_unreadable), or a bug.",
    503: "A dependency is unavailable: retry the same request after Retry-After seconds.",
}
# Any request can be malformed HTTP (400), carry too large a body (413), use a wrong method (405),
# be over a rate limit (429) or meet a failing dependency (503).
_ALWAYS = (400, 405, 413, 429, 503)


#: Where a route's query parameters wait in its operation until `openapi.merge` lists them with the
#: path parameters (Powertools writes an operation's `parameters` itself, after the extensions).
QUERY_PARAMETERS_EXTENSION = "x-countersign-query"


def query_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter of a route, for `admin_route(query=...)`."""
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


RAW_EVENTS_QUERY = (
    query_parameter(
        "limit",
        "How many events, newest first (default 25).",
        {"type": "integer", "minimum": 1, "maximum": 100},  # reporting.MAX_RAW_EVENTS
    ),
    query_parameter(
        "visitorId",
        "Only this visitor's events (its newest, within the dedupe window).",
        {"type": "string", "minLength": 1, "maxLength": 256},  # reporting.MAX_VISITOR_ID_CHARS
    ),
    query_parameter(
        "cursor",
        "List on from where an earlier answer stopped: its `nextCursor`.",
        {"type": "string", "minLength": 1, "maxLength": 96},  # reporting.MAX_CURSOR_CHARS
    ),
)
COVERAGE_QUERY = (
    query_parameter(
        "hours",
        f"The window: the current hour so far and this many hours before it (default {coverage.DEFAULT_HOURS}).",
        {"type": "integer", "minimum": 1, "maximum": coverage.MAX_HOURS},
    ),
)


def admin_route(
    *,
    ok: tuple[int, dict[str, Any]],
    errors: tuple[int, ...],
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    query: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """Keyword arguments for the route decorator of an admin route (bearer token; 401 and 403 always)."""
    return _route(
        ok=ok,
        errors=(401, 403, *errors),
        body=body,
        body_required=body_required,
        query=query,
        security=[{"adminToken": []}],
    )


def sdk_route(
    *, ok: tuple[int, dict[str, Any]], errors: tuple[int, ...], body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Keyword arguments for the route decorator of a public SDK route (no credentials)."""
    return _route(ok=ok, errors=errors, body=body, body_required=True, query=(), security=[])


def _route(
    *,
    ok: tuple[int, dict[str, Any]],
    errors: tuple[int, ...],
    body: dict[str, Any] | None,
    body_required: bool,
    query: tuple[dict[str, Any], ...],
    security: list[dict[str, list[str]]],
) -> dict[str, Any]:
    extensions: dict[str, Any] = {"security": security}
    if query:
        extensions[QUERY_PARAMETERS_EXTENSION] = list(query)
    if body is not None:
        extensions["requestBody"] = {"required": body_required, "content": _json_content(body)}
    status, schema = ok
    responses: dict[int, Any] = {
        status: {"description": "Success.", "content": {"application/json": {"schema": schema}}}
        if status != HTTPStatus.NO_CONTENT
        else {"description": "Done; no body."}
    }
    for code in sorted({*errors, *_ALWAYS}):
        responses[code] = {
            "description": _ERROR_DESCRIPTIONS[code],
            "content": _json_content(ERROR),
        }
    return {"openapi_extensions": extensions, "responses": responses}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
