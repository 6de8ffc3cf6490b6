"""countersign.verify: the one verification core, with real crypto and in-memory key sources."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from countersign.claims import session_identity
from countersign.errors import ApiError, DependencyUnavailable
from countersign.sdk_requests import Credentials
from countersign.verify import Verified, credential_labels, recheck, subject_allowed, verify_credentials
from tests.support.tokens import hs256_credentials, hs256_token, rs256_token

URI = "https://keys.customer.example/.well-known/jwks.json"
SECRET = b"cs_" + b"q" * 61
NOW = time.time()


@dataclass(frozen=True)
class FakeSettings:
    use_signed_metadata: bool = False
    use_rs256_signed_metadata: bool = False
    jwks_uri: str | None = None
    only_allow_signed_metadata: bool = False


@dataclass
class FakeKeys:
    """SigningKeyDirectory over a dict; records every call so tests can see what was looked up."""

    keys: dict[str, tuple[Literal["active", "revoked"], bytes]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    down: bool = False

    def status(self, key_name: str) -> Literal["active", "revoked", "unknown"]:
        self.calls.append(f"status:{key_name}")
        if self.down:
            raise DependencyUnavailable("dynamodb")
        return self.keys[key_name][0] if key_name in self.keys else "unknown"

    def secret(self, key_name: str) -> bytes:
        self.calls.append(f"secret:{key_name}")
        if self.down:
            raise DependencyUnavailable("kms")
        return self.keys[key_name][1]


@dataclass
class FakeJwks:
    """RsaKeySource over a dict of kid -> key; `down` simulates an unreachable endpoint."""

    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False

    def public_key(self, uri: str, kid: str) -> rsa.RSAPublicKey:
        self.calls.append((uri, kid))
        if self.down:
            raise DependencyUnavailable("jwks")
        if kid not in self.keys:
            raise ApiError("unknown_kid", "This kid is not in the JWK Set at the saved URI.")
        return self.keys[kid]


@pytest.fixture
def keys() -> FakeKeys:
    return FakeKeys({"key-1": ("active", SECRET), "key-old": ("revoked", b"old-" + b"r" * 60)})


@pytest.fixture
def jwks(rsa_key: rsa.RSAPrivateKey) -> FakeJwks:
    return FakeJwks({"kid-1": rsa_key.public_key()})


HS256_ON = FakeSettings(use_signed_metadata=True)
RS256_ON = FakeSettings(use_rs256_signed_metadata=True, jwks_uri=URI)
BOTH_ON = FakeSettings(use_signed_metadata=True, use_rs256_signed_metadata=True, jwks_uri=URI)
ALL_OFF = FakeSettings()

CLAIMS = {"nonce": "n-1", "visitor": {"id": "v1", "email": "v@example.com"}, "account": {"id": "a1"}}


def hs256_body(claims: dict[str, Any] = CLAIMS, secret: bytes = SECRET, key_name: str = "key-1") -> dict[str, Any]:
    return hs256_credentials(claims, secret, key_name)


def rs256_body(
    private_key: rsa.RSAPrivateKey, claims: dict[str, Any] = CLAIMS, kid: str | None = "kid-1"
) -> dict[str, Any]:
    return {"jwt": rs256_token(claims, private_key, kid=kid)}


def verify(body: Any, settings: FakeSettings, keys: FakeKeys, jwks: FakeJwks, **kwargs: Any) -> Verified:
    return verify_credentials(Credentials.from_body(body), settings, keys, jwks, now=kwargs.pop("now", NOW), **kwargs)


def accepted_as(verified: Verified) -> tuple[Any, ...]:
    """What a verification accepted, and how (its facts still wait for the subject's row)."""
    return verified.claims, verified.signed, verified.key_name, verified.kid


def drop(body: Any, settings: FakeSettings, keys: FakeKeys, jwks: FakeJwks, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as excinfo:
        verify(body, settings, keys, jwks, **kwargs)
    return excinfo.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- body shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_request"),
        ({"signingKeyName": "key-1"}, "invalid_request"),
        ({"jwt": "a.b.c", "metadata": {}}, "invalid_request"),
        ({"jwt": None}, "malformed_token"),
        ({"jwt": 42}, "malformed_token"),
        ({"jwt": {"alg": "HS256"}}, "malformed_token"),
        ({"jwt": ""}, "malformed_token"),
        ({"metadata": "visitor"}, "invalid_claims"),
        ({"metadata": None}, "invalid_claims"),
        ({"metadata": []}, "invalid_claims"),
    ],
)
def test_body_shapes(body: dict[str, Any], code: str, keys: FakeKeys, jwks: FakeJwks) -> None:
    error = drop(body, BOTH_ON, keys, jwks)
    assert error.code == code
    assert keys.calls == [] and jwks.calls == []


# --- unsigned ---------------------------------------------------------------------------------


def test_unsigned_metadata_accepted_when_only_allow_is_off(keys: FakeKeys, jwks: FakeJwks) -> None:
    metadata = {"visitor": {"id": "v1"}, "account": {"id": "a1"}}
    for settings in (ALL_OFF, HS256_ON, RS256_ON):
        assert accepted_as(verify({"metadata": metadata}, settings, keys, jwks)) == (metadata, None, None, None)
    assert keys.calls == [] and jwks.calls == []


def test_unsigned_metadata_ignores_a_signing_key_name(keys: FakeKeys, jwks: FakeJwks) -> None:
    verified = verify({"metadata": {"visitor": {"id": "v1"}}, "signingKeyName": "key-1"}, HS256_ON, keys, jwks)
    assert verified.signed is None and verified.key_name is None


def test_unsigned_metadata_rejected_when_only_allow_is_on(keys: FakeKeys, jwks: FakeJwks) -> None:
    settings = FakeSettings(use_signed_metadata=True, only_allow_signed_metadata=True)
    assert drop({"metadata": {"visitor": {"id": "v1"}}}, settings, keys, jwks).code == "unsigned_metadata_rejected"


def test_unsigned_metadata_claims_rules_apply(keys: FakeKeys, jwks: FakeJwks) -> None:
    assert drop({"metadata": {"visitor": {"id": 7}}}, ALL_OFF, keys, jwks).code == "invalid_claims"


def test_unsigned_update_of_a_signed_session_is_refused(keys: FakeKeys, jwks: FakeJwks) -> None:
    body = {"metadata": {"visitor": {"id": "v1", "role": "admin"}}}
    error = drop(body, HS256_ON, keys, jwks, session_signed="hs256")
    assert error.code == "unsigned_metadata_rejected"
    assert "started with signed metadata" in error.message
    assert verify(body, HS256_ON, keys, jwks, session_signed=None).signed is None


# --- HS256 ------------------------------------------------------------------------------------


def test_hs256_accepted(keys: FakeKeys, jwks: FakeJwks) -> None:
    verified = verify(hs256_body(), HS256_ON, keys, jwks)
    assert accepted_as(verified) == (CLAIMS, "hs256", "key-1", None)
    assert keys.calls == ["status:key-1", "secret:key-1"]
    assert jwks.calls == []


def test_hs256_accepted_with_only_allow_on(keys: FakeKeys, jwks: FakeJwks) -> None:
    settings = FakeSettings(use_signed_metadata=True, only_allow_signed_metadata=True)
    assert verify(hs256_body(), settings, keys, jwks).signed == "hs256"


def test_hs256_dropped_when_signed_metadata_is_off(keys: FakeKeys, jwks: FakeJwks) -> None:
    for settings in (ALL_OFF, RS256_ON):
        assert drop(hs256_body(), settings, keys, jwks).code == "signed_metadata_disabled"
    assert keys.calls == []  # the settings gate comes before any key lookup


def test_hs256_gate_comes_before_the_key_name_check(keys: FakeKeys, jwks: FakeJwks) -> None:
    body = {"jwt": hs256_body()["jwt"]}
    assert drop(body, ALL_OFF, keys, jwks).code == "signed_metadata_disabled"


@pytest.mark.parametrize("key_name", [None, "", 42, ["key-1"], "k" * 129])
def test_hs256_needs_a_signing_key_name(key_name: Any, keys: FakeKeys, jwks: FakeJwks) -> None:
    body: dict[str, Any] = {"jwt": hs256_body()["jwt"]}
    if key_name is not None:
        body["signingKeyName"] = key_name
    assert drop(body, HS256_ON, keys, jwks).code == "signing_key_name_required"
    assert keys.calls == []


def test_hs256_unknown_key(keys: FakeKeys, jwks: FakeJwks) -> None:
    assert drop(hs256_body(key_name="key-9"), HS256_ON, keys, jwks).code == "unknown_signing_key"
    assert keys.calls == ["status:key-9"]  # no secret is fetched for an unknown key


def test_hs256_revoked_key(keys: FakeKeys, jwks: FakeJwks) -> None:
    body = hs256_body(secret=keys.keys["key-old"][1], key_name="key-old")
    assert drop(body, HS256_ON, keys, jwks).code == "revoked_signing_key"
    assert keys.calls == ["status:key-old"]


def test_hs256_bad_signature(keys: FakeKeys, jwks: FakeJwks) -> None:
    assert drop(hs256_body(secret=b"w" * 64), HS256_ON, keys, jwks).code == "invalid_signature"


def test_hs256_signed_with_another_active_key(keys: FakeKeys, jwks: FakeJwks) -> None:
    keys.keys["key-2"] = ("active", b"two-" + b"t" * 60)
    body = hs256_body(key_name="key-2")  # signed with key-1's secret, names key-2
    assert drop(body, HS256_ON, keys, jwks).code == "invalid_signature"


def test_hs256_missing_nonce(keys: FakeKeys, jwks: FakeJwks) -> None:
    body = hs256_body({"visitor": {"id": "v1", "nonce": "inside"}})
    assert drop(body, HS256_ON, keys, jwks).code == "missing_nonce"


def test_hs256_expired(keys: FakeKeys, jwks: FakeJwks) -> None:
    body = hs256_body({**CLAIMS, "exp": int(NOW) - 3600})
    assert drop(body, HS256_ON, keys, jwks).code == "token_expired"


def test_injected_clock_decides_exp_too(keys: FakeKeys, jwks: FakeJwks) -> None:
    body = hs256_body({**CLAIMS, "exp": int(NOW) + 600})
    assert verify(body, HS256_ON, keys, jwks).claims["exp"] == int(NOW) + 600
    assert drop(body, HS256_ON, keys, jwks, now=NOW + 661).code == "token_expired"


def test_hs256_dependency_failure_is_not_a_drop(keys: FakeKeys, jwks: FakeJwks) -> None:
    keys.down = True
    error = drop(hs256_body(), HS256_ON, keys, jwks)
    assert isinstance(error, DependencyUnavailable)
    assert not error.is_drop and error.status == 503


def test_hs256_token_with_jku_is_unsupported_even_with_everything_on(keys: FakeKeys, jwks: FakeJwks) -> None:
    token = hs256_token(CLAIMS, SECRET, headers={"jku": "https://attacker.example/jwks"})
    assert drop({"jwt": token, "signingKeyName": "key-1"}, BOTH_ON, keys, jwks).code == "unsupported_token"
    assert keys.calls == []


# --- RS256 ------------------------------------------------------------------------------------


def test_rs256_accepted(rsa_key: rsa.RSAPrivateKey, keys: FakeKeys, jwks: FakeJwks) -> None:
    verified = verify(rs256_body(rsa_key), RS256_ON, keys, jwks)
    assert accepted_as(verified) == (CLAIMS, "rs256", None, "kid-1")
    assert jwks.calls == [(URI, "kid-1")]
    assert keys.calls == []


def test_rs256_ignores_a_signing_key_name(rsa_key: rsa.RSAPrivateKey, keys: FakeKeys, jwks: FakeJwks) -> None:
    body = {**rs256_body(rsa_key), "signingKeyName": "key-1"}
    verified = verify(body, BOTH_ON, keys, jwks)
    assert (verified.signed, verified.key_name) == ("rs256", None)
    assert keys.calls == []


@pytest.mark.parametrize(
    "settings",
    [
        ALL_OFF,
        HS256_ON,
        FakeSettings(use_rs256_signed_metadata=True),  # on, but no saved URI
        FakeSettings(use_rs256_signed_metadata=True, jwks_uri=""),
        FakeSettings(jwks_uri=URI),  # a URI without the setting
    ],
)
def test_rs256_not_configured(
    settings: FakeSettings, rsa_key: rsa.RSAPrivateKey, keys: FakeKeys, jwks: FakeJwks
) -> None:
    assert drop(rs256_body(rsa_key), settings, keys, jwks).code == "rs256_not_configured"
    assert jwks.calls == []  # never fetch a JWKS when RS256 is off


def test_rs256_gate_comes_before_the_kid_check(rsa_key: rsa.RSAPrivateKey, keys: FakeKeys, jwks: FakeJwks) -> None:
    assert drop(rs256_body(rsa_key, kid=None), ALL_OFF, keys, jwks).code == "rs256_not_configured"


def test_rs256_missing_kid(rsa_key: rsa.RSAPrivateKey, keys: FakeKeys, jwks: FakeJwks) -> None:
    assert drop(rs256_body(rsa_key, kid=None), RS256_ON, keys, jwks).code == "unknown_kid"
    assert jwks.calls == []


def test_rs256_kid_not_in_the_jwk_set(rsa_key: rsa.RSAPrivateKey, keys: FakeKeys, jwks: FakeJwks) -> None:
    error = drop(rs256_body(rsa_key, kid="kid-9"), RS256_ON, keys, jwks)
    assert error.code == "unknown_kid"
    assert error.message == "This kid is not in the JWK Set at the saved URI."  # the source's message
    assert jwks.calls == [(URI, "kid-9")]


def test_rs256_signed_by_another_key(keys: FakeKeys, jwks: FakeJwks) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert drop(rs256_body(other), RS256_ON, keys, jwks).code == "invalid_signature"


def test_rs256_jwks_unreachable_is_not_a_drop(rsa_key: rsa.RSAPrivateKey, keys: FakeKeys, jwks: FakeJwks) -> None:
    jwks.down = True
    error = drop(rs256_body(rsa_key), RS256_ON, keys, jwks)
    assert isinstance(error, DependencyUnavailable)
    assert not error.is_drop


def test_rs256_session_needs_visitor_and_account(rsa_key: rsa.RSAPrivateKey, keys: FakeKeys, jwks: FakeJwks) -> None:
    verified = verify(rs256_body(rsa_key, {"nonce": "n", "visitor": {"id": "v"}}), RS256_ON, keys, jwks)
    with pytest.raises(ApiError) as excinfo:
        session_identity(verified.claims, signed=verified.signed, now=NOW)
    assert excinfo.value.code == "invalid_claims"


def test_hs256_token_forged_with_the_public_key_pem(rsa_key: rsa.RSAPrivateKey, keys: FakeKeys, jwks: FakeJwks) -> None:
    """Key confusion end to end: HMAC over the published public key, presented as HS256 or RS256."""
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"alg": "HS256", "kid": "kid-1"}).encode())
    payload = b64(json.dumps({**CLAIMS, "visitor": {"id": "admin"}}).encode())
    signature = b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    forged = f"{header}.{payload}.{signature}"
    # RS256-only application: an HS256 token is never checked with the RSA key.
    assert drop({"jwt": forged}, RS256_ON, keys, jwks).code == "signed_metadata_disabled"
    # Both modes on: it is an HS256 token, so it needs one of the application's own secrets.
    assert drop({"jwt": forged}, BOTH_ON, keys, jwks).code == "signing_key_name_required"
    assert drop({"jwt": forged, "signingKeyName": "key-1"}, BOTH_ON, keys, jwks).code == "invalid_signature"
    assert jwks.calls == []


# --- refused tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none"},
        {"alg": "None"},
        {"alg": "NONE"},
        {"alg": "nOnE"},
        {"alg": "HS384"},
        {"alg": "RS512", "kid": "kid-1"},
        {"alg": "PS256", "kid": "kid-1"},
        {"alg": "ES256", "kid": "kid-1"},
        {"alg": "RS256", "kid": "kid-1", "x5u": "https://attacker.example/c.pem"},
        {"alg": "RS256", "kid": "kid-1", "jwk": {"kty": "RSA"}},
        {"alg": "RS256", "kid": "kid-1", "x5c": ["MIIB"]},
        {"alg": "RS256", "kid": "kid-1", "crit": ["exp"]},
        {"alg": "HS256", "b64": False, "crit": ["b64"]},
    ],
)
@pytest.mark.parametrize("settings", [ALL_OFF, BOTH_ON])
def test_unsupported_tokens(header: dict[str, Any], settings: FakeSettings, keys: FakeKeys, jwks: FakeJwks) -> None:
    token = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(CLAIMS).encode())}.{b64(b'sig')}"
    assert drop({"jwt": token, "signingKeyName": "key-1"}, settings, keys, jwks).code == "unsupported_token"
    assert keys.calls == [] and jwks.calls == []


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b", "a.b.c.d", "x" * 20_000, "eyJ.eyJ.sig"])
def test_malformed_tokens(token: str, keys: FakeKeys, jwks: FakeJwks) -> None:
    error = drop({"jwt": token, "signingKeyName": "key-1"}, BOTH_ON, keys, jwks)
    assert error.code == "malformed_token"
    assert error.message != "The token is not a well-formed JWT."  # the parser's specific reason
    assert keys.calls == [] and jwks.calls == []


# --- recheck (every events batch) -------------------------------------------------------------


def recheck_code(
    signed: Any, key_name: str | None, settings: FakeSettings, keys: FakeKeys, jwks: FakeJwks, kid: str | None = None
) -> str | None:
    try:
        recheck(signed, key_name, kid, settings, keys, jwks)
    except ApiError as error:
        return error.code
    return None


def test_recheck_hs256(keys: FakeKeys, jwks: FakeJwks) -> None:
    assert recheck_code("hs256", "key-1", HS256_ON, keys, jwks) is None
    assert recheck_code("hs256", "key-old", HS256_ON, keys, jwks) == "revoked_signing_key"
    assert recheck_code("hs256", "key-gone", HS256_ON, keys, jwks) == "unknown_signing_key"
    assert recheck_code("hs256", "key-1", RS256_ON, keys, jwks) == "signed_metadata_disabled"
    assert "secret:key-1" not in keys.calls  # no signature check, so no secret
    assert jwks.calls == []


def test_recheck_hs256_after_revocation(keys: FakeKeys, jwks: FakeJwks) -> None:
    assert recheck_code("hs256", "key-1", HS256_ON, keys, jwks) is None
    keys.keys["key-1"] = ("revoked", SECRET)
    assert recheck_code("hs256", "key-1", HS256_ON, keys, jwks) == "revoked_signing_key"


def test_recheck_hs256_gate_before_key_lookup(keys: FakeKeys, jwks: FakeJwks) -> None:
    assert recheck_code("hs256", "key-1", ALL_OFF, keys, jwks) == "signed_metadata_disabled"
    assert keys.calls == []


def test_recheck_hs256_needs_the_key_name(keys: FakeKeys, jwks: FakeJwks) -> None:
    with pytest.raises(ValueError, match="key name"):
        recheck("hs256", None, None, HS256_ON, keys, jwks)


def test_recheck_rs256(keys: FakeKeys, jwks: FakeJwks) -> None:
    assert recheck_code("rs256", None, RS256_ON, keys, jwks, kid="kid-1") is None
    no_uri = FakeSettings(use_rs256_signed_metadata=True)
    assert recheck_code("rs256", None, no_uri, keys, jwks, kid="kid-1") == "rs256_not_configured"
    assert recheck_code("rs256", None, HS256_ON, keys, jwks, kid="kid-1") == "rs256_not_configured"
    assert keys.calls == []
    assert jwks.calls == [(URI, "kid-1")]  # the settings gate comes before the JWK Set


def test_recheck_rs256_after_the_kid_left_the_set(keys: FakeKeys, jwks: FakeJwks) -> None:
    """Removing a public key from the JWK Set is how a customer revokes it (SPEC 3.4)."""
    assert recheck_code("rs256", None, RS256_ON, keys, jwks, kid="kid-1") is None
    del jwks.keys["kid-1"]
    assert recheck_code("rs256", None, RS256_ON, keys, jwks, kid="kid-1") == "unknown_kid"


def test_recheck_rs256_needs_the_kid(keys: FakeKeys, jwks: FakeJwks) -> None:
    with pytest.raises(ValueError, match="kid"):
        recheck("rs256", None, None, RS256_ON, keys, jwks)


def test_recheck_unsigned(keys: FakeKeys, jwks: FakeJwks) -> None:
    assert recheck_code(None, None, ALL_OFF, keys, jwks) is None
    assert recheck_code(None, None, HS256_ON, keys, jwks) is None
    only = FakeSettings(use_signed_metadata=True, only_allow_signed_metadata=True)
    assert recheck_code(None, None, only, keys, jwks) == "unsigned_metadata_rejected"


def test_recheck_dependency_failure_is_not_a_drop(keys: FakeKeys, jwks: FakeJwks) -> None:
    keys.down = True
    with pytest.raises(DependencyUnavailable):
        recheck("hs256", "key-1", None, HS256_ON, keys, jwks)
    jwks.down = True
    with pytest.raises(DependencyUnavailable):
        recheck("rs256", None, "kid-1", RS256_ON, keys, jwks)


# --- diagnostics labels -----------------------------------------------------------------------


def test_credential_labels(rsa_key: rsa.RSAPrivateKey) -> None:
    def labels(body: Any) -> dict[str, str]:
        return credential_labels(Credentials.from_body(body))

    assert labels(hs256_body()) == {"keyName": "key-1"}
    assert labels(rs256_body(rsa_key)) == {"kid": "kid-1"}
    assert labels({"jwt": "garbage", "signingKeyName": "k" * 500}) == {}
    assert labels({"metadata": {}}) == {}
    assert labels(None) == {}


@pytest.mark.parametrize("mode", ["unsigned", "hs256", "rs256"])
def test_a_verified_subject_under_suppression_is_dropped_last(
    mode: str, keys: FakeKeys, jwks: FakeJwks, rsa_key: rsa.RSAPrivateKey
) -> None:
    """SPEC 9 through the one table: a credential every other row accepts is dropped
    `subject_suppressed` when its subject is suppressed, and accepted when it is not."""
    settings = BOTH_ON
    body = {
        "unsigned": {"metadata": {"visitor": {"id": "v1"}, "account": {"id": "a1"}}},
        "hs256": hs256_body(),
        "rs256": rs256_body(rsa_key) if mode == "rs256" else {},
    }[mode]
    verified = verify(body, settings, keys, jwks)
    subject_allowed(verified, suppressed=False)
    with pytest.raises(ApiError) as refused:
        subject_allowed(verified, suppressed=True)
    assert refused.value.code == "subject_suppressed" and refused.value.status == 403 and refused.value.is_drop


def test_a_session_whose_subject_is_suppressed_since_stops(keys: FakeKeys, jwks: FakeJwks) -> None:
    settings = HS256_ON
    recheck("hs256", "key-1", None, settings, keys, jwks, suppressed=False)
    with pytest.raises(ApiError) as refused:
        recheck("hs256", "key-1", None, settings, keys, jwks, suppressed=True)
    assert refused.value.code == "subject_suppressed"
