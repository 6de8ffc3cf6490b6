"""The per-application settings object and every rule of PATCH /settings (SPEC 3.1).

Pure: no AWS here. `countersign.settings_changes` reads the current settings, calls
`apply_patch`, and writes the result conditionally on `version` (`ControlStore.update_settings`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from countersign.errors import ApiError

CONFIRMATION_PHRASE = "I understand"

TOGGLES = ("useSignedMetadata", "useRs256SignedMetadata", "onlyAllowSignedMetadata")
_READ_ONLY = {
    "jwksUri": "jwksUri is saved with PUT /v1/apps/{appId}/jwks-uri after a successful test.",
    "updatedAt": "updatedAt is set by the service.",
}


@dataclass(frozen=True)
class Settings:
    """What an application accepts. Field names follow the JSON object of SPEC 3.1."""

    use_signed_metadata: bool = False
    use_rs256_signed_metadata: bool = False
    jwks_uri: str | None = None
    only_allow_signed_metadata: bool = False
    version: int = 1
    updated_at: str = ""

    @property
    def has_usable_signing_mode(self) -> bool:
        return self.use_signed_metadata or (self.use_rs256_signed_metadata and bool(self.jwks_uri))

    def to_json(self) -> dict[str, Any]:
        return {
            "useSignedMetadata": self.use_signed_metadata,
            "useRs256SignedMetadata": self.use_rs256_signed_metadata,
            "jwksUri": self.jwks_uri,
            "onlyAllowSignedMetadata": self.only_allow_signed_metadata,
            "version": self.version,
            "updatedAt": self.updated_at,
        }


def apply_patch(
    current: Settings,
    patch: dict[str, Any],
    *,
    now: str,
    would_drop: Callable[[Settings], tuple[int, int]] = lambda _: (0, 0),
) -> Settings:
    """Return the settings after `patch`, or raise the ApiError the first broken rule asks for.

    Input problems (400) are reported before state conflicts (409). An optional integer
    `version` in the patch is a precondition: it must equal the current version. Turning
    `useSignedMetadata` off needs the confirmation when `would_drop(new settings)` (the sessions
    and events of the dry run's window they would have dropped) is not nothing: asked after every
    other rule passed, so a refused change never reads the traffic.
    """
    changes = _read_patch(patch)
    if "version" in patch and patch["version"] != current.version:
        raise ApiError(
            "settings_conflict",
            f"The settings are at version {current.version}, not {patch['version']}: read them again.",
        )
    confirmed = patch.get("confirmation") == CONFIRMATION_PHRASE

    turns_on_only_allow = changes.get("onlyAllowSignedMetadata") is True and not current.only_allow_signed_metadata
    turns_off_rs256 = changes.get("useRs256SignedMetadata") is False and current.use_rs256_signed_metadata
    turns_off_hs256 = changes.get("useSignedMetadata") is False and current.use_signed_metadata
    if (turns_on_only_allow or turns_off_rs256) and not confirmed:
        raise ApiError("confirmation_required")

    result = replace(
        current,
        use_signed_metadata=changes.get("useSignedMetadata", current.use_signed_metadata),
        use_rs256_signed_metadata=changes.get("useRs256SignedMetadata", current.use_rs256_signed_metadata),
        only_allow_signed_metadata=changes.get("onlyAllowSignedMetadata", current.only_allow_signed_metadata),
        # Turning RS256 off removes the saved URI: it must be tested again to come back.
        jwks_uri=None if turns_off_rs256 else current.jwks_uri,
        version=current.version + 1,
        updated_at=now,
    )

    # The lock applies while only-allow stays on; switching it off in the same PATCH releases it.
    if (
        result.only_allow_signed_metadata
        and current.only_allow_signed_metadata
        and (turns_off_rs256 or turns_off_hs256)
    ):
        raise ApiError("only_signed_metadata_enabled")
    if result.only_allow_signed_metadata and not result.has_usable_signing_mode:
        raise ApiError("no_signing_mode")
    # Asked last, of a change that would otherwise be made: it is the only rule that reads traffic.
    if turns_off_hs256 and not confirmed:
        sessions, events = would_drop(result)
        if sessions or events:
            raise ApiError(
                "confirmation_required",
                f"Turning useSignedMetadata off would have dropped {sessions} session(s) and {events} event(s) "
                f'of the last 24 hours: repeat it with "confirmation": "{CONFIRMATION_PHRASE}".',
            )
    return result


def is_dry_run(patch: dict[str, Any]) -> bool:
    """`"dryRun": true` asks what the patch would do (SPEC 3.5); `apply_patch` checks its type."""
    return patch.get("dryRun") is True


def with_jwks_uri(current: Settings, uri: str, *, now: str) -> Settings:
    """Save a tested JWKS URI (PUT /jwks-uri): RS256 must be on and only-allow off."""
    if not current.use_rs256_signed_metadata:
        raise ApiError("rs256_disabled")
    if current.only_allow_signed_metadata:
        raise ApiError("only_signed_metadata_enabled")
    return replace(current, jwks_uri=uri, version=current.version + 1, updated_at=now)


def _read_patch(patch: dict[str, Any]) -> dict[str, bool]:
    for field, why in _READ_ONLY.items():
        if field in patch:
            raise ApiError("invalid_request", f"{field} cannot be changed with PATCH: {why}")
    unknown = sorted(set(patch) - set(TOGGLES) - {"confirmation", "version", "dryRun"})
    if unknown:
        raise ApiError(
            "invalid_request",
            f"Unknown setting(s): {', '.join(unknown)}. Settable: {', '.join(TOGGLES)}.",
        )
    changes: dict[str, bool] = {}
    for name in TOGGLES:
        if name in patch:
            if not isinstance(patch[name], bool):
                raise ApiError("invalid_request", f"{name} must be true or false.")
            changes[name] = patch[name]
    if not changes:
        raise ApiError("invalid_request", f"Give at least one of {', '.join(TOGGLES)}.")
    if "confirmation" in patch and not isinstance(patch["confirmation"], str):
        raise ApiError("invalid_request", "confirmation must be a string.")
    version = patch.get("version")
    if "version" in patch and (isinstance(version, bool) or not isinstance(version, int)):
        raise ApiError("invalid_request", "version must be an integer.")
    if "dryRun" in patch and not isinstance(patch["dryRun"], bool):
        raise ApiError("invalid_request", "dryRun must be true or false.")
    return changes
