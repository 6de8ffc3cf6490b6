"""countersign.claims: nonce, ids, anonymous visitors, RS256 requirements, metadata updates."""

from __future__ import annotations

from typing import Any

import pytest

from countersign import claims as rules
from countersign.errors import ApiError

NOW = 1_800_000_000.0


def identity(claims: dict[str, Any], signed: Any = "hs256", now: float = NOW) -> rules.SessionIdentity:
    return rules.session_identity(claims, signed=signed, now=now)


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ApiError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value.code


# --- nonce ------------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", ["hs256", "rs256"])
@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"visitor": {"id": "v"}, "account": {"id": "a"}}, id="missing"),
        pytest.param({"nonce": "", "visitor": {"id": "v"}, "account": {"id": "a"}}, id="empty"),
        pytest.param({"nonce": None, "visitor": {"id": "v"}, "account": {"id": "a"}}, id="null"),
        pytest.param({"nonce": 12345, "visitor": {"id": "v"}, "account": {"id": "a"}}, id="number"),
        pytest.param({"nonce": ["x"], "visitor": {"id": "v"}, "account": {"id": "a"}}, id="array"),
        pytest.param(
            {"visitor": {"id": "v", "nonce": "inside"}, "account": {"id": "a"}},
            id="inside-visitor-does-not-count",
        ),
        pytest.param(
            {"visitor": {"id": "v"}, "account": {"id": "a", "nonce": "inside"}},
            id="inside-account-does-not-count",
        ),
    ],
)
def test_jwts_need_a_top_level_nonce(signed: Any, claims: dict[str, Any]) -> None:
    assert refused(identity, claims, signed) == "missing_nonce"


def test_nonce_value_is_not_otherwise_validated() -> None:
    assert identity({"nonce": " ", "visitor": {"id": "v"}}).visitor_id == "v"


def test_unsigned_metadata_needs_no_nonce() -> None:
    assert identity({"visitor": {"id": "v"}}, signed=None).visitor_id == "v"


# --- visitor / account shapes -----------------------------------------------------------------


@pytest.mark.parametrize("signed", [None, "hs256"])
@pytest.mark.parametrize("section", ["visitor", "account"])
@pytest.mark.parametrize("value", [None, "v1", 42, ["id"], True])
def test_sections_must_be_objects(signed: Any, section: str, value: Any) -> None:
    assert refused(identity, {"nonce": "n", section: value}, signed) == "invalid_claims"


@pytest.mark.parametrize("signed", [None, "hs256", "rs256"])
@pytest.mark.parametrize("section", ["visitor", "account"])
@pytest.mark.parametrize("value", [42, 4.2, 0, True, False, None, {"id": "v"}, ["v"]])
def test_ids_must_be_strings(signed: Any, section: str, value: Any) -> None:
    claims = {"nonce": "n", "visitor": {"id": "v"}, "account": {"id": "a"}}
    claims[section] = {"id": value}
    assert refused(identity, claims, signed) == "invalid_claims"


def test_numeric_visitor_id_is_not_converted() -> None:
    assert refused(identity, {"visitor": {"id": 12345}}, None) == "invalid_claims"


def test_id_length_cap() -> None:
    at_cap = "v" * rules.MAX_ID_CHARS
    assert identity({"nonce": "n", "visitor": {"id": at_cap}}).visitor_id == at_cap
    assert refused(identity, {"nonce": "n", "visitor": {"id": at_cap + "v"}}) == "invalid_claims"
    assert refused(identity, {"nonce": "n", "account": {"id": at_cap + "a"}}) == "invalid_claims"


def test_metadata_size_cap() -> None:
    # {"id":"v","bio":"..."} is 19 bytes plus the value.
    fits = {"id": "v", "bio": "x" * (rules.MAX_METADATA_BYTES - 19)}
    assert identity({"visitor": fits}, signed=None).visitor["bio"] == fits["bio"]
    too_big = {"id": "v", "bio": "x" * (rules.MAX_METADATA_BYTES - 18)}
    assert refused(identity, {"visitor": too_big}, None) == "invalid_claims"
    # Counted in UTF-8 bytes, not characters.
    multibyte = {"bio": "\u00e9" * (rules.MAX_METADATA_BYTES // 2)}
    assert refused(identity, {"account": multibyte}, None) == "invalid_claims"


def test_metadata_depth_cap() -> None:
    value: Any = "leaf"
    for _ in range(rules.MAX_METADATA_DEPTH - 1):
        value = {"k": value}
    assert identity({"visitor": {"id": "v", "deep": value}}, signed=None).visitor_id == "v"
    assert refused(identity, {"visitor": {"id": "v", "deep": {"k": value}}}, None) == "invalid_claims"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "\ud800"])
def test_metadata_that_is_not_storable_json_is_refused(bad: Any) -> None:
    assert refused(identity, {"visitor": {"id": "v", "x": bad}}, None) == "invalid_claims"


def test_claims_must_be_an_object() -> None:
    assert refused(rules.check_claims, ["visitor"], signed=None) == "invalid_claims"


# --- session identity -------------------------------------------------------------------------


def test_identity_and_metadata() -> None:
    got = identity(
        {
            "nonce": "n",
            "visitor": {"id": "v1", "email": "v@example.com"},
            "account": {"id": "a1", "plan": "pro"},
            "exp": NOW + 600,
        }
    )
    assert got == rules.SessionIdentity(
        visitor_id="v1",
        account_id="a1",
        visitor={"email": "v@example.com"},
        account={"plan": "pro"},
        anonymous=False,
        expires_at=NOW + 600,
    )


def test_claims_are_not_mutated() -> None:
    claims = {"nonce": "n", "visitor": {"id": "v1", "x": 1}}
    identity(claims)
    assert claims == {"nonce": "n", "visitor": {"id": "v1", "x": 1}}


@pytest.mark.parametrize("signed", [None, "hs256"])
@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"nonce": "n", "visitor": {"id": ""}}, id="empty-id"),
        pytest.param({"nonce": "n", "visitor": {"otherVisitorField": "hi"}}, id="no-id"),
        pytest.param({"nonce": "n"}, id="no-visitor"),
        pytest.param({"nonce": "n", "visitor": {}}, id="empty-visitor"),
    ],
)
def test_anonymous_visitors_get_a_random_id(signed: Any, claims: dict[str, Any]) -> None:
    first, second = identity(claims, signed), identity(claims, signed)
    assert first.anonymous
    assert first.visitor_id.startswith(rules.ANONYMOUS_PREFIX)
    assert len(first.visitor_id) >= len(rules.ANONYMOUS_PREFIX) + 20
    assert first.visitor_id != second.visitor_id
    assert "id" not in first.visitor


def test_anonymous_visitor_keeps_its_metadata_and_account() -> None:
    got = identity({"nonce": "n", "visitor": {"id": "", "f": "hi"}, "account": {"id": "", "g": 1}})
    assert got.anonymous
    assert got.visitor == {"f": "hi"}
    assert got.account_id == ""
    assert got.account == {"g": 1}


def test_missing_account_is_empty() -> None:
    got = identity({"nonce": "n", "visitor": {"id": "v"}})
    assert (got.account_id, got.account) == ("", {})


# --- RS256 requirements -----------------------------------------------------------------------


def test_rs256_with_visitor_and_account_ids() -> None:
    got = identity({"nonce": "n", "visitor": {"id": "v"}, "account": {"id": "a"}}, "rs256")
    assert (got.visitor_id, got.account_id, got.anonymous) == ("v", "a", False)


def test_rs256_empty_ids_are_allowed() -> None:
    got = identity({"nonce": "n", "visitor": {"id": ""}, "account": {"id": ""}}, "rs256")
    assert got.anonymous
    assert got.account_id == ""


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"nonce": "n", "visitor": {"id": "v"}}, id="no-account"),
        pytest.param({"nonce": "n", "account": {"id": "a"}}, id="no-visitor"),
        pytest.param({"nonce": "n", "visitor": {"id": "v"}, "account": {"name": "x"}}, id="account-without-id"),
        pytest.param({"nonce": "n", "visitor": {"f": "hi"}, "account": {"id": "a"}}, id="visitor-without-id"),
        pytest.param({"nonce": "n"}, id="neither"),
    ],
)
def test_rs256_requires_visitor_and_account_with_ids(claims: dict[str, Any]) -> None:
    assert refused(identity, claims, "rs256") == "invalid_claims"
    # The same claims are fine for HS256 and unsigned metadata.
    assert identity(claims, "hs256")


# --- time claims ------------------------------------------------------------------------------


def test_session_ends_at_exp() -> None:
    assert identity({"nonce": "n", "exp": NOW + 30}).expires_at == NOW + 30
    assert identity({"nonce": "n"}).expires_at is None


def test_exp_and_nbf_are_held_against_now_with_leeway() -> None:
    # Accepted on the leeway alone: the session ends when the leeway does, never before it starts.
    assert identity({"nonce": "n", "exp": NOW - 59}).expires_at == NOW - 59 + 60
    assert identity({"nonce": "n", "exp": NOW}).expires_at == NOW + 60
    assert refused(identity, {"nonce": "n", "exp": NOW - 61}) == "token_expired"
    assert identity({"nonce": "n", "nbf": NOW + 59})
    assert refused(identity, {"nonce": "n", "nbf": NOW + 61}) == "token_not_yet_valid"


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["1800000000", True, None, [1]])
def test_non_numeric_time_claims(claim: str, value: Any) -> None:
    assert refused(identity, {"nonce": "n", claim: value}) == "invalid_claims"


def test_unsigned_metadata_time_claims_are_ignored() -> None:
    got = identity({"visitor": {"id": "v"}, "exp": "whenever", "nbf": NOW + 3600}, signed=None)
    assert got.expires_at is None


# --- metadata updates -------------------------------------------------------------------------


def update(claims: dict[str, Any], signed: Any = "hs256", **session: Any) -> rules.MetadataUpdate:
    ids = {"session_visitor_id": "v1", "session_account_id": "a1", **session}
    return rules.metadata_update(claims, signed=signed, **ids)


@pytest.mark.parametrize("signed", [None, "hs256", "rs256"])
def test_visitor_update(signed: Any) -> None:
    got = update({"nonce": "n", "visitor": {"id": "v1", "newField": "x", "old": "updated"}}, signed)
    assert got == rules.MetadataUpdate(target="visitor", fields={"newField": "x", "old": "updated"})


def test_account_update() -> None:
    got = update({"nonce": "n", "account": {"id": "a1", "plan": "enterprise"}})
    assert got == rules.MetadataUpdate(target="account", fields={"plan": "enterprise"})


def test_update_with_only_the_id_is_an_empty_merge() -> None:
    assert update({"nonce": "n", "visitor": {"id": "v1"}}).fields == {}


def test_update_needs_exactly_one_section() -> None:
    with pytest.raises(ApiError) as both:
        update({"nonce": "n", "visitor": {"id": "v1"}, "account": {"id": "a1"}})
    assert both.value.code == "invalid_claims"
    assert "not both" in both.value.message
    with pytest.raises(ApiError) as neither:
        update({"nonce": "n"})
    assert neither.value.code == "invalid_claims"
    assert "neither" in neither.value.message


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"nonce": "n", "visitor": {"id": "v2", "x": 1}}, id="other-visitor"),
        pytest.param({"nonce": "n", "account": {"id": "a2", "x": 1}}, id="other-account"),
        pytest.param({"nonce": "n", "visitor": {"x": 1}}, id="visitor-without-id"),
        pytest.param({"nonce": "n", "account": {"x": 1}}, id="account-without-id"),
        pytest.param({"nonce": "n", "visitor": {"id": "", "x": 1}}, id="empty-id-named-session"),
        pytest.param({"nonce": "n", "visitor": {"id": "V1", "x": 1}}, id="case-differs"),
        pytest.param({"nonce": "n", "account": {"id": "v1", "x": 1}}, id="visitor-id-on-account"),
    ],
)
def test_update_id_must_equal_the_sessions(claims: dict[str, Any]) -> None:
    assert refused(update, claims) == "identity_mismatch"


def test_update_of_anonymous_session() -> None:
    session = {"session_visitor_id": "anon-abc", "session_anonymous": True}
    # The customer's server signed the session with an empty id; the update repeats it.
    assert update({"nonce": "n", "visitor": {"id": "", "x": 1}}, **session).fields == {"x": 1}
    assert update({"nonce": "n", "visitor": {"id": "anon-abc", "x": 1}}, **session).fields == {"x": 1}
    assert refused(update, {"nonce": "n", "visitor": {"id": "someone", "x": 1}}, **session) == "identity_mismatch"


def test_update_of_empty_account() -> None:
    session = {"session_account_id": ""}
    assert update({"nonce": "n", "account": {"id": "", "x": 1}}, **session).fields == {"x": 1}
    assert refused(update, {"nonce": "n", "account": {"id": "a1"}}, **session) == "identity_mismatch"


def test_update_nonce_rules() -> None:
    assert refused(update, {"visitor": {"id": "v1", "nonce": "inside"}}) == "missing_nonce"
    assert update({"visitor": {"id": "v1", "x": 1}}, signed=None).fields == {"x": 1}


def test_update_shape_rules() -> None:
    assert refused(update, {"nonce": "n", "visitor": "v1"}) == "invalid_claims"
    assert refused(update, {"nonce": "n", "visitor": {"id": 1}}) == "invalid_claims"
    assert refused(update, {"nonce": "n", "visitor": None}) == "invalid_claims"
