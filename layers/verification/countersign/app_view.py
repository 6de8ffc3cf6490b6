"""What an application accepts right now, as the ingest path sees it: settings, signing keys,
decrypted secrets and JWKS keys, cached per warm container with documented bounds.

Cache bounds (the promise of SPEC 3.4: a revoked key or a setting turned off stops data within
them everywhere):

    settings and key states    CACHE_TTL_SECONDS (template parameter, default 5 s) per application;
                               a key name the view does not know rereads it at once (at most once
                               per UNKNOWN_KEY_REREAD_SECONDS per application), so a key generated
                               now signs at once, as a newly published kid does
    decrypted HS256 secrets    SECRET_TTL_SECONDS (300 s); only ever used for a key the settings
                               view above still lists as active, so revocation is not delayed by it
    JWKS keys                  see countersign.jwks (per URI TTL, refetch on an unknown kid)

A warm request therefore reads nothing from ControlTable and calls KMS never.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from countersign import container
from countersign.config import get_config
from countersign.envelope import open_secret
from countersign.errors import ApiError
from countersign.settings import Settings
from countersign.store.control import control_store
from countersign.store.keys import SigningKeys, key_store
from countersign.ttl_cache import TtlCache

if TYPE_CHECKING:
    from countersign.jwks import JwksCache

SECRET_TTL_SECONDS = 300.0
UNKNOWN_KEY_REREAD_SECONDS = 1.0
# Application ids are `app_` and 16 hex characters (admin_tokens.new_app_id); this is wider on purpose.
_APP_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class AppView:
    """An application's settings and signing keys as read at one moment."""

    app_id: str
    settings: Settings
    keys: SigningKeys


class KeyDirectory:
    """`verify.SigningKeyDirectory` over one AppView: statuses from the view, secrets via KMS (cached)."""

    def __init__(self, view: AppView) -> None:
        self.view = view

    def status(self, key_name: str) -> Literal["active", "revoked", "unknown"]:
        if key_name not in self.view.keys.active and key_name not in self.view.keys.revoked:
            self.view = _reread(self.view)
        if key_name in self.view.keys.active:
            return "active"
        return "revoked" if key_name in self.view.keys.revoked else "unknown"

    def secret(self, key_name: str) -> bytes:
        ciphertext = self.view.keys.active[key_name]
        app_id = self.view.app_id
        # Keyed by the ciphertext too: a key name is never reused, but this makes sure of it.
        return _secrets().get_or_load((app_id, key_name, ciphertext), lambda: open_secret(app_id, key_name, ciphertext))


def current_view(app_id: str) -> AppView:
    """The application's settings and keys, at most CACHE_TTL_SECONDS old (404 if no such app)."""
    if not possible_app_id(app_id):
        raise ApiError("app_not_found")
    view = _views().get_or_load(app_id, lambda: _load_view(app_id))
    if view is None:
        raise ApiError("app_not_found")
    return view


def possible_app_id(app_id: str) -> bool:
    """Whether an application could have this id. Junk is refused before it costs a read (or a
    cache entry): DynamoDB would refuse a key over 2048 bytes with a ValidationException, which
    is not an outage (503) but a junk path."""
    return _APP_ID_SHAPE.fullmatch(app_id) is not None


def jwks_keys() -> JwksCache:
    """The container's JWKS cache (one per container, shared by every application's URI)."""
    return _jwks_cache()


def _load_view(app_id: str) -> AppView | None:
    settings = control_store().find_settings(app_id)
    if settings is None:
        return None  # cached too: junk application ids cost one read per TTL, not one per request
    return AppView(app_id, settings, key_store().signing_keys(app_id))


def _reread(view: AppView) -> AppView:
    """The application read again, for a key name its cached view does not know. Junk key names
    cost one read per application per UNKNOWN_KEY_REREAD_SECONDS, not one per request."""
    reread = False

    def load() -> AppView | None:
        nonlocal reread
        reread = True
        return _load_view(view.app_id)

    fresh = _rereads().get_or_load(view.app_id, load)
    if fresh is None:
        return view
    if reread:
        _views().put(view.app_id, fresh)
    return fresh


@lru_cache(maxsize=1)
def _rereads() -> TtlCache[AppView | None]:
    return TtlCache(UNKNOWN_KEY_REREAD_SECONDS)


@lru_cache(maxsize=1)
def _views() -> TtlCache[AppView | None]:
    return TtlCache(get_config().cache_ttl_seconds)


@lru_cache(maxsize=1)
def _secrets() -> TtlCache[bytes]:
    return TtlCache(SECRET_TTL_SECONDS, max_entries=1024)


@lru_cache(maxsize=1)
def _jwks_cache() -> JwksCache:
    from functools import partial

    from countersign import netguard
    from countersign.jwks import JwksCache, address_policy

    return JwksCache(partial(netguard.fetch, policy=address_policy()))


for _factory in (_views, _rereads, _secrets, _jwks_cache):
    container.on_reset(_factory.cache_clear)
