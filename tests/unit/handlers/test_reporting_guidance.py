"""What Diagnostics and Coverage answer so the console can guide an admin (issue 26 item 5):
the window the counts cover, what each drop code means and how to fix it (from the one error
table), and coverage's hourly trend of signed and unsigned traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from countersign.errors import DIAGNOSTIC_REASONS, DROP_CODES, ERRORS, EVENT_REJECTIONS
from tests.support.tenant import Tenant
from tests.support.tokens import hs256_credentials, with_nonce
from tests.support.world import World


@pytest.fixture
def tenant(world: World) -> Tenant:
    created = Tenant(world)
    created.settings(useSignedMetadata=True)
    return created


def unsigned(visitor: str) -> dict[str, Any]:
    return {"metadata": {"visitor": {"id": visitor}}}


def parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_every_drop_and_rejection_code_says_what_it_means_and_how_to_fix_it() -> None:
    assert set(DIAGNOSTIC_REASONS) == set(DROP_CODES) | set(EVENT_REJECTIONS)
    for code in DROP_CODES:
        # One table: the meaning is the API's own message for that code, never a second wording.
        assert DIAGNOSTIC_REASONS[code]["meaning"] == ERRORS[code].message, code
        assert len(DIAGNOSTIC_REASONS[code]["fix"]) > 40, code
    for code, reason in EVENT_REJECTIONS.items():
        assert DIAGNOSTIC_REASONS[code] == {"meaning": reason.message, "fix": reason.fix}
    # The admin's words: the console's control names, never the JSON field names of the settings.
    fixes = " ".join(reason["fix"] for reason in DIAGNOSTIC_REASONS.values())
    for field in ("onlyAllowSignedMetadata", "useSignedMetadata", "useRs256SignedMetadata"):
        assert field not in fixes


def test_diagnostics_names_its_window_and_serves_the_reasons(tenant: Tenant) -> None:
    status, answer = tenant.session({"jwt": "not-a-token", "signingKeyName": "key_x"})
    assert status == 400 and answer["error"]["code"] == "malformed_token"
    status, diagnostics = tenant.admin("GET", "/diagnostics")
    assert status == 200
    window = diagnostics["window"]
    assert window["hours"] == 720
    start, end = parse(window["from"]), parse(window["to"])
    assert start.minute == start.second == 0 and timedelta(hours=720) <= end - start < timedelta(hours=721)
    assert diagnostics["recentDropsHours"] == 7 * 24  # the default dedupe window
    assert diagnostics["counts"]["dropped"] == {"malformed_token": 1}
    assert diagnostics["reasons"] == DIAGNOSTIC_REASONS
    assert diagnostics["reasons"]["malformed_token"]["fix"].startswith("Send a compact JWT")


def test_coverage_draws_every_hour_of_its_window_signed_and_unsigned(tenant: Tenant) -> None:
    status, key = tenant.admin("POST", "/keys", {"description": "server"})
    secret = tenant.admin("POST", f"/keys/{key['keyName']}/reveal")[1]["secret"]
    for visitor in ("v-1", "v-2", "v-3"):
        claims = with_nonce({"visitor": {"id": visitor}})
        assert tenant.session(hs256_credentials(claims, secret, key["keyName"]))[0] == 201
    assert tenant.session(unsigned("v-4"))[0] == 201
    status, coverage = tenant.admin("GET", "/coverage", query="hours=6")
    assert status == 200
    hourly = coverage["hourly"]
    # Dense: the six full hours before this one and the current hour, oldest first, on the hour.
    assert len(hourly) == 7
    hours = [parse(entry["hour"]) for entry in hourly]
    assert hours == [hours[0] + timedelta(hours=i) for i in range(7)]
    assert hours[0] == parse(coverage["from"])
    assert all(entry["sessions"] == {"signed": 0, "unsigned": 0} for entry in hourly[:-1])
    assert hourly[-1]["sessions"] == {"signed": 3, "unsigned": 1}
    # The trend adds up to the window's totals.
    signed = coverage["sessions"]["hs256"] + coverage["sessions"]["rs256"]
    assert sum(entry["sessions"]["signed"] for entry in hourly) == signed == 3
    assert sum(entry["sessions"]["unsigned"] for entry in hourly) == coverage["sessions"]["unsigned"] == 1
