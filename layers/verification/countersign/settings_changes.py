"""GET and PATCH /settings (SPEC 3.1): the read-change-write around the rules of `countersign.settings`.

The rules are pure and live in `countersign.settings` (the data layer stores its `Settings`); this
module reads the current settings, applies a patch with a conditional write on `version`
(`ControlStore.update_settings`, which retries a lost race) and writes the audit line. A dry-run
(SPEC 3.5) runs the same rules on the current settings and writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from countersign import clock, coverage
from countersign.observability import logger
from countersign.settings import Settings, apply_patch, is_dry_run
from countersign.store.control import control_store
from countersign.store.counters import counter_store


def current_settings(app_id: str) -> dict[str, Any]:
    """The settings object of SPEC 3.1 (defaults for an application that never changed them)."""
    return control_store().get_settings(app_id).to_json()


def change_settings(app_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    """Apply `patch` (see `settings.apply_patch`) and answer the new settings object; with
    `"dryRun": true`, answer what it would do instead (`preview_change`)."""
    if is_dry_run(patch):
        return preview_change(app_id, patch)
    # What the dry run would say it drops, read only if a rule asks (turning HS256 off unconfirmed).
    dropped = coverage.dropped_of(lambda: _last_day(app_id, clock.now()))

    def change(current: Settings) -> Settings:
        return apply_patch(current, patch, now=clock.now_iso(), would_drop=dropped)

    updated = control_store().update_settings(app_id, change).to_json()
    # The toggles and version only: a saved JWKS URI's path is the customer's business.
    logger.info("settings changed", extra={"settings": {k: v for k, v in updated.items() if k != "jwksUri"}})
    return updated


def preview_change(app_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    """A dry-run (SPEC 3.5): the same checks and errors as the change, the settings it would give
    and what the last 24 hours would have lost under them. Nothing is written."""
    now = clock.now()
    current = control_store().get_settings(app_id)
    return coverage.preview(current, patch, now=clock.iso(now), traffic=lambda: _last_day(app_id, now))


def _last_day(app_id: str, now: datetime) -> coverage.Tally:
    """The application's accepted traffic of the dry run's window (IMPACT_HOURS) up to `now`."""
    span = coverage.window(coverage.IMPACT_HOURS, now)
    return coverage.tally(counter_store().totals(app_id, span.start, span.end))
