"""Countersign's shared verification layer: every Lambda function imports this package.

Modules, by what they decide (data flows down this list: request -> handler -> core -> store):

The HTTP edge
    api               the Powertools resolver (body limit, CORS, admin authorization middleware,
                      ApiError -> SPEC error shape), reading a JSON body or a query parameter
    sdk_requests      the SDK bodies read once into typed values (Credentials, EventsRequest)
    openapi_schemas   the OpenAPI description of each route (documentation only)
    static_files      the web function's manifest of SDK and console files: types, caching, headers
    errors            every error code: its HTTP status, message and whether it is a drop (one
                      table, typed as ErrorCode); per-event rejection codes
    strict_json       which JSON is accepted in bodies and token segments (numbers, depth, Unicode)

What is accepted and why (pure: no AWS)
    policy            the acceptance table of SPEC 3.4, one function over plain values; TokenKind
    tokens            strict JWT parsing and pinned-algorithm signature checks
    claims            what the claims of a session start or metadata update must hold
    verify            the one verification core (gate -> key -> signature -> claims), recheck
    events            an events batch: limits, validation by index, time window, dedupe keys
    settings          the settings object and every rule of PATCH /settings and of saving a URI
    coverage          rollout insight on plain values: windows, counter names, what settings would drop
    numerals          the one rule for reading a decimal integer from text
    ascii_escape      any text in an ASCII form every DynamoDB name or value holds (counter names)

What each route does (domain modules: rules, store calls, audit lines and metrics)
    ingest            session start, metadata update, events (drops counted for diagnostics)
    keys              HS256 key names, secrets, the five-key limit, generate/list/reveal/revoke
    jwks_uri          testing and saving a JWKS URI
    settings_changes  GET and PATCH /settings: read-change-write on `version`, the audit line
    reporting         raw events, diagnostics and coverage
    key_usage         lastUsedAt of keys and kids: one write per key per minute per container
    tenancy           per-application rate limits: the one-second window, the door, overrides
    lake              stored sessions and events (typed, from store.data) -> lake lines, object names
    export            exactly-once delivery of a DataTable stream batch to the lake
    erasures          the erasure routes' rules (SPEC 9): request, follow, list and lift suppressions
    erasure_run       the erasure processor: queued erasures carried out with proof

What a warm container knows and fetches
    app_view          an application's settings, key states, secrets and JWKS keys, cached with bounds
    jwks, netguard    customer JWK Sets (usable keys, cache) and SSRF-safe fetching of them
    envelope          KMS sealing of HS256 secrets with the {appId, keyName} context
    subjects          a visitor's or account's keyed hash per application (erasure records)
    admin_tokens      admin bearer tokens: format, hashing, application ids

The data layer and plumbing
    store             every DynamoDB item and S3 object layout, read and written (store/__init__.py)
    tables            the analysts' Iceberg tables, only in the tables function (tables/__init__.py)
    aws               AWS clients made once per container; AWS failures -> 503
    observability     the function's logger and metrics (flushed by its handler)
    clock             the one UTC ISO 8601 format
    config            configuration from the environment template.yaml sets
    container, ttl_cache   warm-container state in one resettable registry; expiring caches
    snapstart         SnapStart hooks: what a restored environment must not share with the others
"""
