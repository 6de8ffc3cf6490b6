"""Runtime configuration, read once per container from the environment that template.yaml sets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from countersign import container


@dataclass(frozen=True)
class Config:
    control_table: str
    data_table: str
    kms_key_id: str
    cache_ttl_seconds: float
    dedupe_window_seconds: int
    session_ttl_seconds: int
    allow_private_jwks_hosts: bool
    jwks_ca_bundle: str | None
    #: Per-application requests per second (template parameters; an operator override per app wins).
    sdk_requests_per_second: int = 500
    admin_requests_per_second: int = 20
    export_bucket: str = ""
    #: An erasure completes within this many hours of its request (SPEC 9).
    erasure_deadline_hours: float = 72
    #: Epoch ms from which an event's insertId is scoped to its verified visitor (events.insert_id_scope).
    insert_id_scoped_since_ms: int = 0


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


@lru_cache(maxsize=1)
def get_config() -> Config:
    """The container's configuration (cached: Lambda environments don't change while warm)."""
    return Config(
        control_table=os.environ.get("CONTROL_TABLE", "ControlTable"),
        data_table=os.environ.get("DATA_TABLE", "DataTable"),
        kms_key_id=os.environ.get("SECRETS_KEY_ID", ""),
        cache_ttl_seconds=float(os.environ.get("CACHE_TTL_SECONDS", "5")),
        dedupe_window_seconds=int(float(os.environ.get("DEDUPE_WINDOW_DAYS", "7")) * 24 * 3600),
        session_ttl_seconds=int(float(os.environ.get("SESSION_TTL_HOURS", "24")) * 3600),
        # Local development only (SPEC 3.2): template.yaml never sets these two.
        allow_private_jwks_hosts=_flag("ALLOW_PRIVATE_JWKS_HOSTS"),
        jwks_ca_bundle=os.environ.get("JWKS_CA_BUNDLE") or None,
        sdk_requests_per_second=int(os.environ.get("APP_SDK_REQUESTS_PER_SECOND", "500")),
        admin_requests_per_second=int(os.environ.get("APP_ADMIN_REQUESTS_PER_SECOND", "20")),
        export_bucket=os.environ.get("EXPORT_BUCKET", ""),
        erasure_deadline_hours=float(os.environ.get("ERASURE_DEADLINE_HOURS", "72")),
        insert_id_scoped_since_ms=_utc_ms(os.environ.get("INSERT_ID_SCOPED_SINCE", "")),
    )


def _utc_ms(text: str) -> int:
    """Epoch ms of a template timestamp (`2026-12-06T12:00:00Z`); 0 when unset."""
    if not text:
        return 0
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() * 1000)


container.on_reset(get_config.cache_clear)
