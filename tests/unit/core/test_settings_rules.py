"""The rules of PATCH /settings (SPEC 3.1), on plain values."""

from __future__ import annotations

from dataclasses import replace

import pytest

from countersign.errors import ApiError
from countersign.settings import CONFIRMATION_PHRASE, Settings, apply_patch, with_jwks_uri

NOW = "2026-11-21T00:00:00Z"
JWKS = "https://keys.example.com/.well-known/jwks.json"
FRESH = Settings(updated_at="2026-11-20T00:00:00Z")
HS256_ON = replace(FRESH, use_signed_metadata=True)
RS256_SAVED = replace(FRESH, use_rs256_signed_metadata=True, jwks_uri=JWKS)
ONLY_HS256 = replace(HS256_ON, only_allow_signed_metadata=True)
ONLY_RS256 = replace(RS256_SAVED, only_allow_signed_metadata=True)
ONLY_BOTH = replace(ONLY_RS256, use_signed_metadata=True)
CONFIRM = {"confirmation": CONFIRMATION_PHRASE}


def code_of(current: Settings, patch: dict[str, object]) -> str:
    with pytest.raises(ApiError) as raised:
        apply_patch(current, patch, now=NOW)
    return raised.value.code


@pytest.mark.parametrize(
    ("current", "patch", "expected"),
    [
        # rule 1: only-allow needs the confirmation and a usable signing mode
        (HS256_ON, {"onlyAllowSignedMetadata": True}, "confirmation_required"),
        (HS256_ON, {"onlyAllowSignedMetadata": True, "confirmation": "i understand"}, "confirmation_required"),
        (FRESH, {"onlyAllowSignedMetadata": True, **CONFIRM}, "no_signing_mode"),
        (
            replace(FRESH, use_rs256_signed_metadata=True),
            {"onlyAllowSignedMetadata": True, **CONFIRM},
            "no_signing_mode",
        ),
        # rule 2: while only-allow is on, no signing mode can be turned off
        (ONLY_HS256, {"useSignedMetadata": False}, "only_signed_metadata_enabled"),
        (ONLY_BOTH, {"useSignedMetadata": False}, "only_signed_metadata_enabled"),
        (ONLY_RS256, {"useRs256SignedMetadata": False, **CONFIRM}, "only_signed_metadata_enabled"),
        # rule 3: RS256 off needs the confirmation
        (RS256_SAVED, {"useRs256SignedMetadata": False}, "confirmation_required"),
        # input shape
        (FRESH, {}, "invalid_request"),
        (FRESH, {"useSignedMetadata": "yes"}, "invalid_request"),
        (FRESH, {"useSignedMetadata": 1}, "invalid_request"),
        (FRESH, {"jwksUri": JWKS}, "invalid_request"),
        (FRESH, {"updatedAt": NOW, "useSignedMetadata": True}, "invalid_request"),
        (FRESH, {"somethingElse": True}, "invalid_request"),
        (FRESH, {"useSignedMetadata": True, "confirmation": 7}, "invalid_request"),
        (FRESH, {"useSignedMetadata": True, "version": "1"}, "invalid_request"),
        (FRESH, {"useSignedMetadata": True, "version": 5}, "settings_conflict"),
    ],
)
def test_broken_rules_answer_their_code(current: Settings, patch: dict[str, object], expected: str) -> None:
    assert code_of(current, patch) == expected


def test_turning_hs256_on_bumps_version_and_time() -> None:
    result = apply_patch(FRESH, {"useSignedMetadata": True}, now=NOW)
    assert result.use_signed_metadata is True
    assert (result.version, result.updated_at) == (FRESH.version + 1, NOW)


def test_only_allow_on_with_confirmation_and_a_mode() -> None:
    assert apply_patch(HS256_ON, {"onlyAllowSignedMetadata": True, **CONFIRM}, now=NOW).only_allow_signed_metadata
    assert apply_patch(RS256_SAVED, {"onlyAllowSignedMetadata": True, **CONFIRM}, now=NOW).only_allow_signed_metadata


def test_only_allow_on_in_the_same_patch_that_enables_hs256() -> None:
    result = apply_patch(FRESH, {"useSignedMetadata": True, "onlyAllowSignedMetadata": True, **CONFIRM}, now=NOW)
    assert result.use_signed_metadata and result.only_allow_signed_metadata


def test_rs256_off_with_confirmation_clears_the_saved_uri() -> None:
    result = apply_patch(RS256_SAVED, {"useRs256SignedMetadata": False, **CONFIRM}, now=NOW)
    assert result.use_rs256_signed_metadata is False
    assert result.jwks_uri is None


def test_turning_rs256_on_needs_no_confirmation_and_keeps_no_uri() -> None:
    result = apply_patch(FRESH, {"useRs256SignedMetadata": True}, now=NOW)
    assert result.use_rs256_signed_metadata and result.jwks_uri is None


def test_modes_can_be_turned_on_while_only_allow_is_on() -> None:
    assert apply_patch(ONLY_HS256, {"useRs256SignedMetadata": True}, now=NOW).use_rs256_signed_metadata


def test_turning_only_allow_off_releases_the_lock_in_the_same_patch() -> None:
    result = apply_patch(ONLY_HS256, {"onlyAllowSignedMetadata": False, "useSignedMetadata": False}, now=NOW)
    assert not result.only_allow_signed_metadata and not result.use_signed_metadata


def test_matching_version_precondition_is_accepted() -> None:
    assert apply_patch(FRESH, {"useSignedMetadata": True, "version": FRESH.version}, now=NOW).version == 2


def test_saving_a_jwks_uri_needs_rs256_on_and_only_allow_off() -> None:
    with pytest.raises(ApiError) as off:
        with_jwks_uri(FRESH, JWKS, now=NOW)
    assert off.value.code == "rs256_disabled"
    with pytest.raises(ApiError) as locked:
        with_jwks_uri(ONLY_RS256, JWKS + "?v=2", now=NOW)
    assert locked.value.code == "only_signed_metadata_enabled"
    saved = with_jwks_uri(replace(FRESH, use_rs256_signed_metadata=True), JWKS, now=NOW)
    assert (saved.jwks_uri, saved.version) == (JWKS, FRESH.version + 1)


def test_settings_json_has_exactly_the_spec_fields() -> None:
    assert set(FRESH.to_json()) == {
        "useSignedMetadata",
        "useRs256SignedMetadata",
        "jwksUri",
        "onlyAllowSignedMetadata",
        "version",
        "updatedAt",
    }
