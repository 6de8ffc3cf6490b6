"""What an application accepts right now, as the ingest path sees it: settings, signing keys,
decrypted secrets and JWKS keys, cached per warm container with documented bounds.

Cache bounds (the promise of SPEC 3.4: a revoked key or a setting turned off stops data within
them everywhere):

    settings and key states    CACHE_TTL_SECONDS (template parameter, default 5 s) per application
    decrypted HS256 secrets    SECRET_TTL_SECONDS (300 s); only ever used for a key the settings
                               view above still lists as active, so revocation is not delayed by it
    JWKS keys                  see countersign.jwks (per URI TTL, refetch on an unknown kid)

A warm request therefore reads nothing from ControlTable and calls KMS never.
"""

from __future__ import annotations

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
    view = _views().get_or_load(app_id, lambda: _load_view(app_id))
    if view is None:
        raise ApiError("app_not_found")
    return view


def jwks_keys() -> JwksCache:
    """The container's JWKS cache (one per container, shared by every application's URI)."""
    return _jwks_cache()


def _load_view(app_id: str) -> AppView | None:
    settings = control_store().find_settings(app_id)
    if settings is None:
        return None  # cached too: junk application ids cost one read per TTL, not one per request
    return AppView(app_id, settings, key_store().signing_keys(app_id))


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


for _factory in (_views, _secrets, _jwks_cache):
    container.on_reset(_factory.cache_clear)
