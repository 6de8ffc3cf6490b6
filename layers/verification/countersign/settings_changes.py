"""GET and PATCH /settings (SPEC 3.1): the read-change-write around the rules of `countersign.settings`.

The rules are pure and live in `countersign.settings` (the data layer stores its `Settings`); this
module reads the current settings, applies a patch with a conditional write on `version`
(`ControlStore.update_settings`, which retries a lost race) and writes the audit line.
"""

from __future__ import annotations

from typing import Any

from countersign import clock
from countersign.observability import logger
from countersign.settings import Settings, apply_patch
from countersign.store.control import control_store


def current_settings(app_id: str) -> dict[str, Any]:
    """The settings object of SPEC 3.1 (defaults for an application that never changed them)."""
    return control_store().get_settings(app_id).to_json()


def change_settings(app_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    """Apply `patch` (see `settings.apply_patch`) and answer the new settings object."""

    def change(current: Settings) -> Settings:
        return apply_patch(current, patch, now=clock.now_iso())

    updated = control_store().update_settings(app_id, change).to_json()
    # The toggles and version only: a saved JWKS URI's path is the customer's business.
    logger.info("settings changed", extra={"settings": {k: v for k, v in updated.items() if k != "jwksUri"}})
    return updated
