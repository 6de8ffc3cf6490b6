"""Rollout insight on plain values (SPEC 3.5): hour buckets, windows, counter names, and the
settings dry-run against every rule of PATCH /settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from countersign import coverage
from countersign.coverage import Counts, Tally, counter_name, tally, would_drop
from countersign.errors import ApiError
from countersign.settings import CONFIRMATION_PHRASE, Settings, apply_patch, is_dry_run
from countersign.store import counters
from countersign.tokens import MAX_KID_CHARS

NOW = datetime(2026, 11, 26, 14, 37, 12, 345000, tzinfo=UTC)
JWKS = "https://keys.example.com/.well-known/jwks.json"
FRESH = Settings(updated_at="2026-11-20T00:00:00Z")
HS256_ON = replace(FRESH, use_signed_metadata=True)
RS256_SAVED = replace(FRESH, use_rs256_signed_metadata=True, jwks_uri=JWKS)
BOTH = replace(HS256_ON, use_rs256_signed_metadata=True, jwks_uri=JWKS)
ONLY_HS256 = replace(HS256_ON, only_allow_signed_metadata=True)
ONLY_RS256 = replace(RS256_SAVED, only_allow_signed_metadata=True)
ONLY_BOTH = replace(BOTH, only_allow_signed_metadata=True)
CONFIRM = {"confirmation": CONFIRMATION_PHRASE}
STAMP = "2026-11-26T14:37:12Z"

# hour buckets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "bucket"),
    [
        (datetime(2026, 11, 26, 14, 0, 0, tzinfo=UTC), "2026-11-26T14"),
        (datetime(2026, 11, 26, 14, 59, 59, 999999, tzinfo=UTC), "2026-11-26T14"),
        (datetime(2026, 11, 26, 15, 0, 0, tzinfo=UTC), "2026-11-26T15"),
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "2026-12-31T23"),
        (datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "2027-01-01T00"),
        # Another offset is the same instant: buckets are UTC hours.
        (datetime(2026, 11, 26, 16, 5, tzinfo=timezone(timedelta(hours=2))), "2026-11-26T14"),
        (datetime(2026, 11, 26, 9, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30))), "2026-11-26T14"),
    ],
)
def test_a_moment_is_counted_in_its_utc_hour(moment: datetime, bucket: str) -> None:
    assert counters.hour_bucket(moment) == bucket


def test_buckets_sort_as_time_does() -> None:
    moments = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=7 * i + i % 3) for i in range(400)]
    buckets = [counters.hour_bucket(moment) for moment in moments]
    assert buckets == sorted(buckets) and len(set(buckets)) == len(buckets)
    assert all(counters.bucket_start(b) == m.replace(minute=0, second=0) for b, m in zip(buckets, moments, strict=True))


@pytest.mark.parametrize("hours", [1, 2, 24, 167, 720])
def test_a_window_of_n_hours_covers_at_least_the_last_n_hours(hours: int) -> None:
    span = coverage.window(hours, NOW)
    assert span.hours == hours and span.end == NOW
    assert counters.hour_bucket(span.end) == "2026-11-26T14"
    assert span.start == datetime(2026, 11, 26, 14, tzinfo=UTC) - timedelta(hours=hours)
    # Everything of the last N hours is inside, and never more than one extra hour.
    assert NOW - timedelta(hours=hours) >= span.start > NOW - timedelta(hours=hours + 1)


def test_a_window_on_the_hour_still_holds_the_full_previous_hour() -> None:
    on_the_hour = datetime(2026, 11, 26, 0, 0, 0, tzinfo=UTC)
    span = coverage.window(1, on_the_hour)
    assert (counters.hour_bucket(span.start), counters.hour_bucket(span.end)) == ("2026-11-25T23", "2026-11-26T00")


@pytest.mark.parametrize("hours", [0, -1, 721, 10_000])
def test_a_window_outside_the_bounds_is_a_programming_error(hours: int) -> None:
    with pytest.raises(ValueError):
        coverage.window(hours, NOW)


@pytest.mark.parametrize("offset_minutes", [0, 1, 59, 60, 61, 719 * 60 + 59])
def test_no_bucket_of_the_longest_window_has_expired(offset_minutes: int) -> None:
    now = NOW + timedelta(minutes=offset_minutes)
    span = coverage.window(coverage.MAX_HOURS, now)
    oldest = counters.bucket_expiry(counters.hour_bucket(span.start))
    assert oldest > now.timestamp()
    # ... and a bucket is not kept much longer than that: one spare hour.
    assert oldest - now.timestamp() <= 2 * 3600


def test_every_bucket_expires_retention_hours_after_it_starts() -> None:
    start = datetime(2026, 11, 26, 14, tzinfo=UTC)
    assert counters.bucket_expiry("2026-11-26T14") == int(start.timestamp()) + counters.RETENTION_HOURS * 3600
    assert counters.RETENTION_HOURS > coverage.MAX_HOURS


@pytest.mark.parametrize(("raw", "hours"), [(None, 24), ("1", 1), ("24", 24), ("720", 720), ("007", 7)])
def test_hours_parameter(raw: str | None, hours: int) -> None:
    assert coverage.parse_hours(raw) == hours


@pytest.mark.parametrize("raw", ["", "0", "721", "-1", "+5", "1.5", "1e2", " 24", "24 ", "²", "٣", "abc", "9" * 400])
def test_a_bad_hours_parameter_is_invalid_request(raw: str) -> None:
    with pytest.raises(ApiError) as raised:
        coverage.parse_hours(raw)
    assert raised.value.code == "invalid_request" and raised.value.status == 400
    assert "1 to 720" in raised.value.message


# counter names ---------------------------------------------------------------------------------

KIDS = [
    "2026-rotation",
    "kid:with:colons|and|bars",
    'quote " and backslash \\',
    "naïve-ключ-🔑",
    "\x00\x1f control",
    "\ud800 lone surrogate",
    "k" * MAX_KID_CHARS,
    "€" * MAX_KID_CHARS,
]


@pytest.mark.parametrize("kid", KIDS)
def test_a_kid_round_trips_through_its_counter_name(kid: str) -> None:
    session_name, event_name = counter_name("s", "rs256", kid=kid), counter_name("e", "rs256", kid=kid)
    for name in (session_name, event_name):
        assert name.isascii() and name.isprintable()
        # DynamoDB attribute names: at most 64 KB (and a kid is bounded, so its name is too).
        assert len(name.encode()) <= 6 * MAX_KID_CHARS + len("s:rs256:")
    counted = tally({session_name: 2, event_name: 7})
    assert counted.kids == {kid: Counts(2, 7)}
    assert counted.keys == {} and counted.unsigned == Counts()


def test_distinct_kids_never_share_a_counter() -> None:
    names = {counter_name("s", "rs256", kid=kid) for kid in KIDS}
    assert len(names) == len(KIDS)


def test_counter_names_need_their_key_or_kid() -> None:
    with pytest.raises(ValueError):
        counter_name("s", "hs256")
    with pytest.raises(ValueError):
        counter_name("e", "rs256", key_name="key_0123456789ab")


def test_tally_reads_modes_keys_and_kids_and_ignores_outcome_counters() -> None:
    totals = {
        counter_name("s", "unsigned"): 3,
        counter_name("e", "unsigned"): 30,
        counter_name("s", "hs256", key_name="key_aaaaaaaaaaaa"): 2,
        counter_name("e", "hs256", key_name="key_aaaaaaaaaaaa"): 20,
        counter_name("e", "hs256", key_name="key_bbbbbbbbbbbb"): 5,
        counter_name("s", "rs256", kid="kid-1"): 1,
        counter_name("e", "rs256", kid="kid-1"): 10,
        "accepted": 65,
        "duplicates": 4,
        "dropped_invalid_signature": 9,
        "rejected_event_too_old": 1,
    }
    counted = tally(totals)
    assert counted.unsigned == Counts(3, 30)
    assert counted.keys == {"key_aaaaaaaaaaaa": Counts(2, 20), "key_bbbbbbbbbbbb": Counts(0, 5)}
    assert counted.kids == {"kid-1": Counts(1, 10)}
    assert {mode: c.to_json() for mode, c in counted.by_mode().items()} == {
        "hs256": {"sessions": 2, "events": 25},
        "rs256": {"sessions": 1, "events": 10},
        "unsigned": {"sessions": 3, "events": 30},
    }
    # The events by mode are the accepted events, counted in the same write.
    assert sum(c.events for c in counted.by_mode().values()) == totals["accepted"]


# coverage answer -------------------------------------------------------------------------------

TRAFFIC = Tally(
    unsigned=Counts(3, 30),
    keys={"key_aaaaaaaaaaaa": Counts(2, 20)},
    kids={"kid-1": Counts(1, 10), "kid-2": Counts(4, 0)},
)


def test_coverage_answer_has_the_spec_shape_and_counts() -> None:
    span = coverage.window(24, NOW)
    answer = coverage.coverage_json(
        TRAFFIC,
        span,
        keys=[
            ("key_aaaaaaaaaaaa", True, "2026-11-26T14:30:00Z"),
            ("key_unused000000", True, None),
            ("key_revokedlong0", False, "2026-10-01T00:00:00Z"),
            ("key_revokedrecen", False, "2026-11-26T09:00:00Z"),
        ],
        kid_last_used={
            "kid-1": "2026-11-26T14:00:00Z",
            "kid-2": "2026-11-26T13:59:00Z",
            "kid-old": "2026-09-01T00:00:00Z",
        },
    )
    assert answer == {
        "hours": 24,
        "from": "2026-11-25T14:00:00Z",
        "to": "2026-11-26T14:37:12Z",
        "sessions": {"hs256": 2, "rs256": 5, "unsigned": 3},
        "events": {"hs256": 20, "rs256": 10, "unsigned": 30},
        "keys": [
            {"keyName": "key_aaaaaaaaaaaa", "sessions": 2, "events": 20, "lastUsedAt": "2026-11-26T14:30:00Z"},
            {"keyName": "key_unused000000", "sessions": 0, "events": 0, "lastUsedAt": None},
            # Revoked keys are listed only while they were used in the window.
            {"keyName": "key_revokedrecen", "sessions": 0, "events": 0, "lastUsedAt": "2026-11-26T09:00:00Z"},
        ],
        "kids": [
            {"kid": "kid-2", "sessions": 4, "events": 0, "lastUsedAt": "2026-11-26T13:59:00Z"},
            {"kid": "kid-1", "sessions": 1, "events": 10, "lastUsedAt": "2026-11-26T14:00:00Z"},
        ],
        "wouldDrop": {"sessions": 3, "events": 30},
    }


def test_would_drop_of_enforcing_is_exactly_the_unsigned_traffic() -> None:
    answer = coverage.coverage_json(TRAFFIC, coverage.window(24, NOW), keys=[], kid_last_used={})
    # What turning only-allow on changes, everything else equal: the table refuses the unsigned.
    for current in (BOTH, HS256_ON, RS256_SAVED):
        enforced = replace(current, only_allow_signed_metadata=True)
        lost = would_drop(TRAFFIC, enforced)
        before = would_drop(TRAFFIC, current)
        assert {"sessions": lost.sessions - before.sessions, "events": lost.events - before.events} == answer[
            "wouldDrop"
        ]
    assert answer["wouldDrop"] == {"sessions": 3, "events": 30}


# the dry-run against every settings rule -------------------------------------------------------


def preview(current: Settings, patch: dict[str, Any]) -> dict[str, Any]:
    return coverage.preview(current, {**patch, "dryRun": True}, now=STAMP, traffic=lambda: TRAFFIC)


def unread() -> Tally:
    raise AssertionError("a refused dry-run must not read the counters")


def real_code(current: Settings, patch: dict[str, Any]) -> str:
    with pytest.raises(ApiError) as raised:
        apply_patch(current, patch, now=STAMP)
    return raised.value.code


@pytest.mark.parametrize(
    ("current", "patch", "code", "status"),
    [
        # rule 1: only-allow needs the confirmation and a usable signing mode
        (HS256_ON, {"onlyAllowSignedMetadata": True}, "confirmation_required", 400),
        (HS256_ON, {"onlyAllowSignedMetadata": True, "confirmation": "i understand"}, "confirmation_required", 400),
        (FRESH, {"onlyAllowSignedMetadata": True, **CONFIRM}, "no_signing_mode", 409),
        (
            replace(FRESH, use_rs256_signed_metadata=True),
            {"onlyAllowSignedMetadata": True, **CONFIRM},
            "no_signing_mode",
            409,
        ),
        (HS256_ON, {"onlyAllowSignedMetadata": True, "useSignedMetadata": False, **CONFIRM}, "no_signing_mode", 409),
        # rule 2: while only-allow is on, no signing mode can be turned off
        (ONLY_HS256, {"useSignedMetadata": False}, "only_signed_metadata_enabled", 409),
        (ONLY_BOTH, {"useSignedMetadata": False}, "only_signed_metadata_enabled", 409),
        (ONLY_RS256, {"useRs256SignedMetadata": False, **CONFIRM}, "only_signed_metadata_enabled", 409),
        # rule 3: RS256 off needs the confirmation
        (RS256_SAVED, {"useRs256SignedMetadata": False}, "confirmation_required", 400),
        # rule 4: a stated version is a precondition
        (HS256_ON, {"useSignedMetadata": False, "version": 7}, "settings_conflict", 409),
        # input shape
        (FRESH, {}, "invalid_request", 400),
        (FRESH, {"useSignedMetadata": "yes"}, "invalid_request", 400),
        (FRESH, {"jwksUri": JWKS, "useSignedMetadata": True}, "invalid_request", 400),
        (FRESH, {"useSignedMetadata": True, "confirmation": 7}, "invalid_request", 400),
        (FRESH, {"useSignedMetadata": True, "somethingElse": 1}, "invalid_request", 400),
        (FRESH, {"dryRun": True}, "invalid_request", 400),
    ],
)
def test_a_dry_run_answers_every_broken_rule_as_the_real_change(
    current: Settings, patch: dict[str, Any], code: str, status: int
) -> None:
    with pytest.raises(ApiError) as raised:
        coverage.preview(current, {**patch, "dryRun": True}, now=STAMP, traffic=unread)
    assert (raised.value.code, raised.value.status) == (code, status)
    assert real_code(current, patch) == code


@pytest.mark.parametrize(
    ("current", "patch", "dropped"),
    [
        # rule 1 passed: enforcing drops the unsigned traffic, and only that
        (BOTH, {"onlyAllowSignedMetadata": True, **CONFIRM}, Counts(3, 30)),
        (HS256_ON, {"onlyAllowSignedMetadata": True, **CONFIRM}, Counts(3 + 5, 30 + 10)),  # RS256 is not on
        # rule 2 released in the same PATCH: only-allow off, then HS256 off
        # (turning HS256 off drops its traffic here, so it asks for the confirmation: issue 21)
        (ONLY_BOTH, {"onlyAllowSignedMetadata": False, "useSignedMetadata": False, **CONFIRM}, Counts(2, 20)),
        (ONLY_BOTH, {"onlyAllowSignedMetadata": False}, Counts(0, 0)),
        # rule 3 passed: RS256 off removes the URI, so every kid's traffic would drop
        (BOTH, {"useRs256SignedMetadata": False, **CONFIRM}, Counts(5, 10)),
        # a change that drops nothing new still reports what the new settings refuse
        (BOTH, {"useSignedMetadata": True}, Counts(0, 0)),
        (FRESH, {"useSignedMetadata": True}, Counts(5, 10)),  # RS256 off: kid traffic is refused
        (BOTH, {"useSignedMetadata": False, **CONFIRM}, Counts(2, 20)),
        (ONLY_BOTH, {"useRs256SignedMetadata": True, "version": 1}, Counts(3, 30)),
    ],
)
def test_a_dry_run_answers_the_new_settings_and_what_the_last_day_would_lose(
    current: Settings, patch: dict[str, Any], dropped: Counts
) -> None:
    answer = preview(current, patch)
    assert answer == {
        "dryRun": True,
        "settings": apply_patch(current, patch, now=STAMP).to_json(),
        "impact": {"hours": 24, "wouldDrop": dropped.to_json()},
    }
    assert answer["settings"]["version"] == current.version + 1 and answer["settings"]["updatedAt"] == STAMP


def test_turning_rs256_off_in_a_dry_run_shows_the_uri_removed() -> None:
    answer = preview(BOTH, {"useRs256SignedMetadata": False, **CONFIRM})
    assert answer["settings"]["jwksUri"] is None and answer["settings"]["useRs256SignedMetadata"] is False


@pytest.mark.parametrize("flag", ["yes", 1, None, [], {}])
def test_dry_run_must_be_a_boolean(flag: object) -> None:
    with pytest.raises(ApiError) as raised:
        apply_patch(BOTH, {"useSignedMetadata": True, "dryRun": flag}, now=STAMP)
    assert raised.value.code == "invalid_request" and "dryRun" in raised.value.message


def test_dry_run_false_is_a_real_change() -> None:
    assert not is_dry_run({"useSignedMetadata": True, "dryRun": False}) and not is_dry_run({})
    assert is_dry_run({"dryRun": True})
    changed = apply_patch(FRESH, {"useSignedMetadata": True, "dryRun": False}, now=STAMP)
    assert changed.use_signed_metadata and changed.version == 2


def test_with_no_traffic_nothing_would_drop() -> None:
    answer = coverage.preview(BOTH, {"onlyAllowSignedMetadata": True, **CONFIRM}, now=STAMP, traffic=Tally)
    assert answer["impact"] == {"hours": 24, "wouldDrop": {"sessions": 0, "events": 0}}


@pytest.mark.parametrize(
    "patch", [{"useSignedMetadata": False}, {"onlyAllowSignedMetadata": False, "useSignedMetadata": False}]
)
def test_turning_hs256_off_unconfirmed_is_refused_when_its_traffic_would_drop(patch: dict[str, Any]) -> None:
    current = BOTH if "onlyAllowSignedMetadata" not in patch else ONLY_BOTH
    with pytest.raises(ApiError) as raised:
        preview(current, patch)
    assert raised.value.code == "confirmation_required" and "2 session(s) and 20 event(s)" in raised.value.message
