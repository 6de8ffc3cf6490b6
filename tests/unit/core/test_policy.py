"""countersign.policy: every row of the SPEC 3.4 acceptance table, as plain values."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from countersign.errors import DROP_CODES, ERRORS
from countersign.policy import Facts, Pending, decide

ON, OFF = True, False


def facts(
    kind: Any,
    *,
    hs256: bool = OFF,
    rs256: bool = OFF,
    uri: bool = OFF,
    only: bool = OFF,
    key: Any = None,
    sig: bool | None = None,
    update_of_signed: bool = False,
    suppressed: bool | None = False,
) -> Facts:
    return Facts(
        kind=kind,
        use_signed_metadata=hs256,
        use_rs256_signed_metadata=rs256,
        jwks_uri_saved=uri,
        only_allow_signed_metadata=only,
        key_status=key,
        signature_valid=sig,
        updates_signed_session=update_of_signed,
        subject_suppressed=suppressed,
    )


# One line per row of the table (and the combinations that matter), in the table's order.
TABLE: list[tuple[str, Facts, Any]] = [
    # unsigned
    ("unsigned, only-allow off", facts("unsigned"), None),
    ("unsigned, only-allow off, HS256 on", facts("unsigned", hs256=ON), None),
    ("unsigned, only-allow off, RS256 on", facts("unsigned", rs256=ON, uri=ON), None),
    ("unsigned, only-allow on (HS256)", facts("unsigned", hs256=ON, only=ON), "unsigned_metadata_rejected"),
    (
        "unsigned, only-allow on (RS256)",
        facts("unsigned", rs256=ON, uri=ON, only=ON),
        "unsigned_metadata_rejected",
    ),
    (
        "unsigned update of a signed session",
        facts("unsigned", update_of_signed=True),
        "unsigned_metadata_rejected",
    ),
    # HS256: mode gate
    ("HS256, use-signed off", facts("hs256"), "signed_metadata_disabled"),
    ("HS256, use-signed off, RS256 on", facts("hs256", rs256=ON, uri=ON), "signed_metadata_disabled"),
    (
        "HS256, use-signed off, only-allow on via RS256",
        facts("hs256", rs256=ON, uri=ON, only=ON),
        "signed_metadata_disabled",
    ),
    (
        "HS256, use-signed off, even with a known key and signature",
        facts("hs256", key="active", sig=True),
        "signed_metadata_disabled",
    ),
    # HS256: key
    ("HS256 on, key not looked up yet", facts("hs256", hs256=ON), Pending.KEY_STATUS),
    ("HS256 on, key unknown", facts("hs256", hs256=ON, key="unknown"), "unknown_signing_key"),
    ("HS256 on, key revoked", facts("hs256", hs256=ON, key="revoked"), "revoked_signing_key"),
    (
        "HS256 on, key revoked, signature good",
        facts("hs256", hs256=ON, key="revoked", sig=True),
        "revoked_signing_key",
    ),
    # HS256: signature
    ("HS256 on, key active, not verified yet", facts("hs256", hs256=ON, key="active"), Pending.SIGNATURE),
    ("HS256 on, bad signature", facts("hs256", hs256=ON, key="active", sig=False), "invalid_signature"),
    ("HS256 on, good signature", facts("hs256", hs256=ON, key="active", sig=True), None),
    (
        "HS256 on + only-allow, good signature",
        facts("hs256", hs256=ON, only=ON, key="active", sig=True),
        None,
    ),
    (
        "HS256 on + RS256 on + only-allow, good signature",
        facts("hs256", hs256=ON, rs256=ON, uri=ON, only=ON, key="active", sig=True),
        None,
    ),
    # RS256: mode gate
    ("RS256 off", facts("rs256"), "rs256_not_configured"),
    ("RS256 off, HS256 on", facts("rs256", hs256=ON), "rs256_not_configured"),
    ("RS256 off, URI saved (stale)", facts("rs256", uri=ON), "rs256_not_configured"),
    ("RS256 on, no saved URI", facts("rs256", rs256=ON), "rs256_not_configured"),
    ("RS256 on, no saved URI, HS256 on", facts("rs256", hs256=ON, rs256=ON), "rs256_not_configured"),
    (
        "RS256 off, HS256 + only-allow on",
        facts("rs256", hs256=ON, only=ON, key="active", sig=True),
        "rs256_not_configured",
    ),
    # RS256: kid
    ("RS256 configured, kid not looked up yet", facts("rs256", rs256=ON, uri=ON), Pending.KEY_STATUS),
    (
        "RS256, kid missing or not in the JWK Set",
        facts("rs256", rs256=ON, uri=ON, key="unknown"),
        "unknown_kid",
    ),
    ("RS256, 'revoked' kid is unknown", facts("rs256", rs256=ON, uri=ON, key="revoked"), "unknown_kid"),
    # RS256: signature
    ("RS256, key found, not verified yet", facts("rs256", rs256=ON, uri=ON, key="active"), Pending.SIGNATURE),
    ("RS256, bad signature", facts("rs256", rs256=ON, uri=ON, key="active", sig=False), "invalid_signature"),
    ("RS256, good signature", facts("rs256", rs256=ON, uri=ON, key="active", sig=True), None),
    (
        "RS256 + only-allow, good signature",
        facts("rs256", rs256=ON, uri=ON, only=ON, key="active", sig=True),
        None,
    ),
    (
        "RS256 with HS256 off entirely, good signature",
        facts("rs256", hs256=OFF, rs256=ON, uri=ON, key="active", sig=True),
        None,
    ),
    # refused tokens
    ("unsupported alg/header, all off", facts("unsupported"), "unsupported_token"),
    (
        "unsupported alg/header, everything on",
        facts("unsupported", hs256=ON, rs256=ON, uri=ON, only=ON),
        "unsupported_token",
    ),
    ("malformed token, all off", facts("malformed"), "malformed_token"),
    (
        "malformed token, everything on",
        facts("malformed", hs256=ON, rs256=ON, uri=ON, only=ON),
        "malformed_token",
    ),
]


@pytest.mark.parametrize(("row", "given", "expected"), TABLE, ids=[row for row, _, _ in TABLE])
def test_acceptance_table(row: str, given: Facts, expected: Any) -> None:
    assert decide(given) == expected


SETTINGS = list(itertools.product([ON, OFF], repeat=4))


@pytest.mark.parametrize(("hs256", "rs256", "uri", "only"), SETTINGS)
def test_every_settings_combination(hs256: bool, rs256: bool, uri: bool, only: bool) -> None:
    """The table, restated per setting: each setting affects exactly the rows it names."""
    common = {"hs256": hs256, "rs256": rs256, "uri": uri, "only": only}
    assert decide(facts("unsigned", **common)) == ("unsigned_metadata_rejected" if only else None)
    assert decide(facts("malformed", **common)) == "malformed_token"
    assert decide(facts("unsupported", **common)) == "unsupported_token"

    verified_hs256 = decide(facts("hs256", key="active", sig=True, **common))
    assert verified_hs256 == (None if hs256 else "signed_metadata_disabled")

    verified_rs256 = decide(facts("rs256", key="active", sig=True, **common))
    assert verified_rs256 == (None if rs256 and uri else "rs256_not_configured")


@pytest.mark.parametrize("kind", ["hs256", "rs256"])
def test_facts_are_asked_for_in_order(kind: Any) -> None:
    """The core gathers the key status, then the signature, only when the table asks."""
    given = facts(kind, hs256=ON, rs256=ON, uri=ON)
    assert decide(given) is Pending.KEY_STATUS
    given = replace(given, key_status="active")
    assert decide(given) is Pending.SIGNATURE
    assert decide(replace(given, signature_valid=True)) is None


@pytest.mark.parametrize("kind", ["unsigned", "hs256", "rs256"])
def test_a_suppressed_subject_is_the_last_row(kind: Any) -> None:
    """SPEC 9: what every other row accepts is dropped `subject_suppressed` when its subject is
    suppressed; the table asks for the subject only once the credential is accepted."""
    accepted = facts(kind, hs256=ON, rs256=ON, uri=ON, key="active", sig=True, suppressed=None)
    assert decide(accepted) is Pending.SUBJECT
    assert decide(replace(accepted, subject_suppressed=True)) == "subject_suppressed"
    assert decide(replace(accepted, subject_suppressed=False)) is None
    # A credential another row drops keeps its own reason, suppressed or not.
    refused = facts(kind, key="revoked", sig=True, only=ON, suppressed=True)
    assert decide(refused) != "subject_suppressed"
    assert ERRORS["subject_suppressed"].status == 403 and "subject_suppressed" in DROP_CODES


def test_every_drop_the_table_returns_is_a_counted_drop_code() -> None:
    statuses: list[Any] = [None, "active", "revoked", "unknown"]
    kinds: list[Any] = ["unsigned", "hs256", "rs256", "unsupported", "malformed"]
    seen = set()
    for kind, settings, key, sig, update, suppressed in itertools.product(
        kinds, SETTINGS, statuses, [None, True, False], [False, True], [None, False, True]
    ):
        hs256, rs256, uri, only = settings
        given = facts(
            kind,
            hs256=hs256,
            rs256=rs256,
            uri=uri,
            only=only,
            key=key,
            sig=sig,
            update_of_signed=update,
            suppressed=suppressed,
        )
        decision = decide(given)
        assert decision is None or isinstance(decision, (str, Pending))
        if isinstance(decision, str):
            assert decision in DROP_CODES
            assert decision in ERRORS
            seen.add(decision)
    assert seen == {
        "unsigned_metadata_rejected",
        "signed_metadata_disabled",
        "unknown_signing_key",
        "revoked_signing_key",
        "invalid_signature",
        "rs256_not_configured",
        "unknown_kid",
        "unsupported_token",
        "malformed_token",
        "subject_suppressed",
    }


def test_statuses_follow_the_spec() -> None:
    assert ERRORS["unsigned_metadata_rejected"][0] == 403
    assert ERRORS["signed_metadata_disabled"][0] == 403
    assert ERRORS["rs256_not_configured"][0] == 403
    for code in ("unknown_signing_key", "revoked_signing_key", "invalid_signature", "unknown_kid"):
        assert ERRORS[code][0] == 401
    assert ERRORS["unsupported_token"][0] == 401


@pytest.mark.parametrize(
    "bad",
    [{"kind": "jwt"}, {"kind": "HS256"}, {"kind": "hs256", "key_status": "expired"}],
)
def test_facts_refuse_values_outside_the_table(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown"):
        Facts(
            use_signed_metadata=True,
            use_rs256_signed_metadata=True,
            jwks_uri_saved=True,
            only_allow_signed_metadata=False,
            **bad,
        )
