"""countersign.tokens: strict parsing before any crypto, and pinned PyJWT verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from countersign import strict_json, tokens
from countersign.errors import ApiError

SECRET = b"k1-" + b"s" * 61  # long enough for HS512 too, so PyJWT never warns about its length


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_token(header: Any, payload: Any = None, signature: bytes = b"sig") -> str:
    """A compact token with arbitrary header/payload JSON (or raw bytes) and a junk signature."""

    def part(value: Any) -> str:
        return b64(value if isinstance(value, bytes) else json.dumps(value).encode())

    return ".".join([part(header), part({"nonce": "n"} if payload is None else payload), b64(signature)])


def hs256(claims: dict[str, Any], secret: bytes = SECRET, **headers: Any) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers or None)


def hs256_raw(payload: dict[str, Any], secret: bytes = SECRET) -> str:
    """Sign claims PyJWT's encoder would refuse to produce (e.g. a non-string iss)."""
    header = b64(json.dumps({"alg": "HS256"}).encode())
    signing_input = f"{header}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def code_of(excinfo: pytest.ExceptionInfo[ApiError]) -> str:
    return excinfo.value.code


# --- read_header: structure, before any crypto --------------------------------------------------


def test_read_header_returns_alg_kid_and_raw() -> None:
    header = tokens.read_header(raw_token({"alg": "RS256", "kid": "k1", "typ": "JWT"}))
    assert header.alg == "RS256"
    assert header.kid == "k1"
    assert header.raw == {"alg": "RS256", "kid": "k1", "typ": "JWT"}


def test_read_header_non_string_alg_and_kid_are_none() -> None:
    header = tokens.read_header(raw_token({"alg": 1, "kid": 7}))
    assert header.alg is None
    assert header.kid is None


@pytest.mark.parametrize("token", [None, 123, b"a.b.c", ["a", "b", "c"], {"jwt": "x"}])
def test_non_string_token_is_malformed(token: object) -> None:
    with pytest.raises(ApiError) as excinfo:
        tokens.read_header(token)
    assert code_of(excinfo) == "malformed_token"


def good_segments() -> list[str]:
    return raw_token({"alg": "HS256"}).split(".")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="one-segment"),
        pytest.param(".".join(good_segments()[:2]), id="two-segments"),
        pytest.param(".".join([*good_segments(), "eA"]), id="four-segments"),
        pytest.param(".".join([*good_segments(), "eA", "eA"]), id="five-segments-jwe"),
        pytest.param(good_segments()[0] + "=." + ".".join(good_segments()[1:]), id="padded-header"),
        pytest.param(".".join([*good_segments()[:2], good_segments()[2] + "=="]), id="padded-signature"),
        pytest.param(" " + ".".join(good_segments()), id="leading-space"),
        pytest.param(".".join(good_segments()) + "\n", id="trailing-newline"),
        pytest.param(good_segments()[0] + " ." + ".".join(good_segments()[1:]), id="inner-space"),
        pytest.param("!!!!." + ".".join(good_segments()[1:]), id="bad-alphabet"),
        pytest.param(
            b64(b'{"alg":"HS256"}').replace("-", "+") + "+/." + ".".join(good_segments()[1:]),
            id="standard-base64-alphabet",
        ),
        pytest.param("e." + ".".join(good_segments()[1:]), id="impossible-length"),
        pytest.param("eyJ." + ".".join(good_segments()[1:]), id="truncated-json"),
        pytest.param(".".join(good_segments()).replace(".", "\u2024", 1), id="non-ascii"),
    ],
)
def test_structurally_bad_tokens_are_malformed(token: str) -> None:
    with pytest.raises(ApiError) as excinfo:
        tokens.read_header(token)
    assert code_of(excinfo) == "malformed_token"


def test_non_canonical_base64_is_malformed() -> None:
    header, payload, _signature = good_segments()
    # "eA" decodes to b"x"; "eB" decodes to the same byte with non-zero unused bits.
    assert base64.urlsafe_b64decode("eB==") == base64.urlsafe_b64decode("eA==")
    with pytest.raises(ApiError) as excinfo:
        tokens.read_header(f"{header}.{payload}.eB")
    assert code_of(excinfo) == "malformed_token"
    assert tokens.read_header(f"{header}.{payload}.eA").alg == "HS256"


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        pytest.param(["alg", "HS256"], None, id="header-array"),
        pytest.param("HS256", None, id="header-string"),
        pytest.param(None, None, id="header-null"),
        pytest.param({"alg": "HS256"}, [1, 2], id="payload-array"),
        pytest.param({"alg": "HS256"}, 42, id="payload-number"),
        pytest.param({"alg": "HS256"}, "claims", id="payload-string"),
        pytest.param(b'\xff\xfe{"alg":"HS256"}', None, id="header-invalid-utf8"),
        pytest.param({"alg": "HS256"}, b'{"nonce":"\xc3\x28"}', id="payload-invalid-utf8"),
        pytest.param(b"not json", None, id="header-not-json"),
        pytest.param({"alg": "HS256"}, b"", id="payload-empty"),
        pytest.param(b'{"alg":"HS256","alg":"none"}', None, id="header-duplicate-alg"),
        pytest.param({"alg": "HS256"}, b'{"nonce":"a","nonce":"b"}', id="payload-duplicate-member"),
        pytest.param({"alg": "HS256"}, b'{"nonce":"a","exp":NaN}', id="payload-nan"),
        pytest.param({"alg": "HS256"}, b'{"nonce":"a","exp":Infinity}', id="payload-infinity"),
        pytest.param({"alg": "HS256"}, b'{"nonce":"a","exp":1e999}', id="payload-overflowing-float"),
        pytest.param({"alg": "HS256"}, b'{"nonce":"a"} trailing', id="payload-trailing-data"),
    ],
)
def test_header_and_payload_must_be_utf8_json_objects(header: Any, payload: Any) -> None:
    with pytest.raises(ApiError) as excinfo:
        tokens.read_header(raw_token(header, payload))
    assert code_of(excinfo) == "malformed_token"


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_nesting_up_to_the_bound_is_fine() -> None:
    payload = {"nonce": "n", "visitor": nested(tokens.MAX_JSON_DEPTH - 2)}
    assert tokens.read_header(raw_token({"alg": "HS256"}, payload)).alg == "HS256"


@pytest.mark.parametrize("where", ["header", "payload"])
def test_deep_nesting_is_malformed(where: str) -> None:
    deep = nested(tokens.MAX_JSON_DEPTH + 1)
    token = raw_token({"alg": "HS256", "x": deep}) if where == "header" else raw_token({"alg": "HS256"}, deep)
    with pytest.raises(ApiError) as excinfo:
        tokens.read_header(token)
    assert code_of(excinfo) == "malformed_token"


def test_recursion_bomb_is_malformed_not_recursion_error() -> None:
    bomb = b"[" * 5000 + b"]" * 5000
    with pytest.raises(ApiError) as excinfo:
        tokens.read_header(raw_token({"alg": "HS256"}, bomb))
    assert code_of(excinfo) == "malformed_token"


def test_token_at_the_size_cap_is_parsed() -> None:
    filler = "x" * 8000
    token = raw_token({"alg": "HS256"}, {"nonce": "n", "pad": filler})
    assert len(token) <= tokens.MAX_TOKEN_CHARS
    assert tokens.read_header(token).alg == "HS256"


def test_huge_token_is_refused_cheaply() -> None:
    token = raw_token({"alg": "HS256"}, {"nonce": "n", "pad": "x" * (3 * 1024 * 1024)})
    started = time.perf_counter()
    with pytest.raises(ApiError) as excinfo:
        tokens.read_header(token)
    assert code_of(excinfo) == "malformed_token"
    assert "longer than" in excinfo.value.message
    assert time.perf_counter() - started < 0.05


def test_one_char_over_the_cap_is_refused() -> None:
    with pytest.raises(ApiError):
        tokens.read_header("a" * (tokens.MAX_TOKEN_CHARS + 1))


def test_json_depth_exceeds() -> None:
    assert not strict_json.json_depth_exceeds("scalar", 0)
    assert strict_json.json_depth_exceeds({}, 0)
    assert not strict_json.json_depth_exceeds({"a": [1, {"b": 2}]}, 3)
    assert strict_json.json_depth_exceeds({"a": [1, {"b": []}]}, 3)


# --- token_kind: which algorithms and header members are accepted -------------------------------


def kind_of(header: dict[str, Any], *, require_kid: bool = True) -> str:
    return tokens.token_kind(tokens.read_header(raw_token(header)), require_kid=require_kid)


def test_hs256_and_rs256_are_the_only_kinds() -> None:
    assert kind_of({"alg": "HS256"}) == "hs256"
    assert kind_of({"alg": "HS256", "typ": "JWT"}) == "hs256"
    assert kind_of({"alg": "RS256", "kid": "k1"}) == "rs256"
    assert kind_of({"alg": "RS256", "kid": "k1", "typ": "jwt"}) == "rs256"
    assert kind_of({"alg": "RS256", "kid": "k1", "typ": "application/JWT"}) == "rs256"


@pytest.mark.parametrize(
    "alg",
    [
        "none", "None", "NONE", "nOnE", "", "hs256", "Hs256", "HS256 ", "RS256\u0000",
        "HS384", "HS512", "RS384", "RS512", "PS256", "PS512", "ES256", "ES384", "ES256K", "EdDSA",
        None, 256, ["HS256"], {"HS256": True},
    ],
)  # fmt: skip
def test_other_algorithms_are_unsupported(alg: Any) -> None:
    with pytest.raises(ApiError) as excinfo:
        kind_of({"alg": alg, "kid": "k1"})
    assert code_of(excinfo) == "unsupported_token"


def test_missing_alg_is_unsupported() -> None:
    with pytest.raises(ApiError) as excinfo:
        kind_of({"typ": "JWT"})
    assert code_of(excinfo) == "unsupported_token"


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("jwk", {"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
        ("x5c", ["MIIB"]),
        ("crit", ["exp"]),
        ("crit", ["b64"]),
        ("crit", []),
        ("b64", False),
        ("b64", True),
        ("enc", "A256GCM"),
        ("zip", "DEF"),
        ("jku", None),
    ],
)
@pytest.mark.parametrize("alg", ["HS256", "RS256"])
def test_dangerous_header_members_are_unsupported(alg: str, member: str, value: Any) -> None:
    with pytest.raises(ApiError) as excinfo:
        kind_of({"alg": alg, "kid": "k1", member: value})
    assert code_of(excinfo) == "unsupported_token"


@pytest.mark.parametrize("typ", ["at+jwt", "JWS", "", "JOSE", 1, None, ["JWT"]])
def test_typ_other_than_jwt_is_unsupported(typ: Any) -> None:
    with pytest.raises(ApiError) as excinfo:
        kind_of({"alg": "HS256", "typ": typ})
    assert code_of(excinfo) == "unsupported_token"


@pytest.mark.parametrize("kid", [None, "", 7, ["k1"], {"k": 1}, "k" * (tokens.MAX_KID_CHARS + 1)])
def test_rs256_needs_a_usable_kid(kid: Any) -> None:
    header: dict[str, Any] = {"alg": "RS256"} if kid is None else {"alg": "RS256", "kid": kid}
    with pytest.raises(ApiError) as excinfo:
        kind_of(header)
    assert code_of(excinfo) == "unknown_kid"
    # The verification core asks without the kid check, so that the settings gate comes first.
    assert kind_of(header, require_kid=False) == "rs256"


def test_hs256_ignores_kid() -> None:
    assert kind_of({"alg": "HS256", "kid": 7}) == "hs256"
    assert tokens.verify_hs256(hs256({"nonce": "n"}, kid="any"), SECRET) == {"nonce": "n"}


def test_hs256_non_string_kid_is_malformed_at_verification() -> None:
    # PyJWT refuses a non-string kid whatever the algorithm; it is a malformed header.
    header = b64(json.dumps({"alg": "HS256", "kid": 7}).encode())
    signing_input = f"{header}.{b64(json.dumps({'nonce': 'n'}).encode())}"
    token = f"{signing_input}.{b64(hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest())}"
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(token, SECRET)
    assert code_of(excinfo) == "malformed_token"


# --- verify_hs256 -----------------------------------------------------------------------------


def test_hs256_round_trip() -> None:
    claims = {"nonce": "n1", "visitor": {"id": "v1"}}
    assert tokens.verify_hs256(hs256(claims), SECRET) == claims


def test_hs256_wrong_secret_is_invalid_signature() -> None:
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(hs256({"nonce": "n"}), SECRET + b"x")
    assert code_of(excinfo) == "invalid_signature"


def test_hs256_tampered_payload_is_invalid_signature() -> None:
    header, _payload, signature = hs256({"nonce": "n", "visitor": {"id": "v1"}}).split(".")
    forged = b64(json.dumps({"nonce": "n", "visitor": {"id": "admin"}}).encode())
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(f"{header}.{forged}.{signature}", SECRET)
    assert code_of(excinfo) == "invalid_signature"


def test_hs256_empty_signature_is_invalid_signature() -> None:
    header, payload, _signature = hs256({"nonce": "n"}).split(".")
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(f"{header}.{payload}.", SECRET)
    assert code_of(excinfo) == "invalid_signature"


def test_hs256_verify_refuses_rs256_token(rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode({"nonce": "n"}, rsa_key, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(token, SECRET)
    assert code_of(excinfo) == "unsupported_token"


def test_alg_none_token_is_refused_by_verify() -> None:
    token = raw_token({"alg": "none", "typ": "JWT"}, {"nonce": "n"}, signature=b"")
    assert token.endswith(".")  # what an unsecured JWT looks like (RFC 7519 6.1)
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(token, SECRET)
    assert code_of(excinfo) == "unsupported_token"
    # A none token re-labelled as HS256 keeps its empty signature: it cannot verify.
    _header, payload, signature = token.split(".")
    relabelled = f"{b64(json.dumps({'alg': 'HS256'}).encode())}.{payload}.{signature}"
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(relabelled, SECRET)
    assert code_of(excinfo) == "invalid_signature"


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_the_right_secret_are_refused(alg: str) -> None:
    token = jwt.encode({"nonce": "n"}, SECRET, algorithm=alg)
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(token, SECRET)
    assert code_of(excinfo) == "unsupported_token"


def test_hs256_secret_must_be_non_empty_bytes() -> None:
    token = hs256({"nonce": "n"})
    with pytest.raises(TypeError):
        tokens.verify_hs256(token, SECRET.decode())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        tokens.verify_hs256(token, b"")


def test_hs256_verify_also_applies_the_structural_checks() -> None:
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(hs256({"nonce": "n"}) + "=", SECRET)
    assert code_of(excinfo) == "malformed_token"
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(hs256({"nonce": "n"}, jku="https://attacker.example/k"), SECRET)
    assert code_of(excinfo) == "unsupported_token"


# --- RS256 and key confusion ------------------------------------------------------------------


def test_rs256_round_trip(rsa_key: rsa.RSAPrivateKey) -> None:
    claims = {"nonce": "n", "visitor": {"id": "v"}, "account": {"id": "a"}}
    token = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "k1"})
    assert tokens.verify_rs256(token, rsa_key.public_key()) == claims


def test_rs256_other_key_is_invalid_signature(rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"nonce": "n"}, other, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_rs256(token, rsa_key.public_key())
    assert code_of(excinfo) == "invalid_signature"


def test_hs256_token_signed_with_the_rsa_public_key_pem_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    """The classic RS256 -> HS256 confusion: the attacker HMACs with the public key's PEM."""
    public_key = rsa_key.public_key()
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = b64(json.dumps({"nonce": "n", "visitor": {"id": "admin"}}).encode())
    signature = b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    forged = f"{header}.{payload}.{signature}"
    # Verified as RS256 (the mode the kid selects): the pinned algorithm refuses it.
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_rs256(forged, public_key)
    assert code_of(excinfo) == "unsupported_token"
    # And if a PEM were ever handed over as an HMAC secret, PyJWT refuses to use it.
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(forged, pem)
    assert code_of(excinfo) == "invalid_signature"


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "PS512"])
def test_other_rsa_algorithms_with_the_right_key_are_refused(rsa_key: rsa.RSAPrivateKey, alg: str) -> None:
    token = jwt.encode({"nonce": "n"}, rsa_key, algorithm=alg, headers={"kid": "k1"})
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_rs256(token, rsa_key.public_key())
    assert code_of(excinfo) == "unsupported_token"


def test_es256_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode({"nonce": "n"}, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_rs256(token, rsa_key.public_key())
    assert code_of(excinfo) == "unsupported_token"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # signing with it, on purpose
def test_rsa_key_under_2048_bits_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - must be refused
    token = jwt.encode({"nonce": "n"}, weak, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_rs256(token, weak.public_key())
    assert code_of(excinfo) == "unknown_kid"


def test_rs256_key_must_be_an_rsa_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode({"nonce": "n"}, rsa_key, algorithm="RS256", headers={"kid": "k1"})
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(TypeError):
        tokens.verify_rs256(token, pem)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tokens.verify_rs256(token, rsa_key)  # type: ignore[arg-type]


# --- time claims ------------------------------------------------------------------------------


def test_exp_within_leeway_is_accepted() -> None:
    # ceil: PyJWT truncates to whole seconds; this stays 58-59 s in the past at verification.
    exp = math.ceil(time.time()) - 59
    assert tokens.verify_hs256(hs256({"nonce": "n", "exp": exp}), SECRET)["exp"] == exp


def test_exp_beyond_leeway_is_expired() -> None:
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(hs256({"nonce": "n", "exp": math.floor(time.time()) - 61}), SECRET)
    assert code_of(excinfo) == "token_expired"


def test_nbf_within_leeway_is_accepted() -> None:
    nbf = math.floor(time.time()) + 59
    assert tokens.verify_hs256(hs256({"nonce": "n", "nbf": nbf}), SECRET)["nbf"] == nbf


def test_nbf_beyond_leeway_is_not_yet_valid() -> None:
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(hs256({"nonce": "n", "nbf": math.ceil(time.time()) + 61}), SECRET)
    assert code_of(excinfo) == "token_not_yet_valid"


def test_iat_far_in_the_future_is_not_yet_valid() -> None:
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(hs256({"nonce": "n", "iat": time.time() + 3600}), SECRET)
    assert code_of(excinfo) == "token_not_yet_valid"


def test_float_exp_is_accepted() -> None:
    assert tokens.verify_hs256(hs256({"nonce": "n", "exp": time.time() + 600.5}), SECRET)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["9999999999", True, None, [1], {"s": 1}, ""])
def test_non_numeric_time_claims_are_invalid_claims(claim: str, value: Any) -> None:
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(hs256({"nonce": "n", claim: value}), SECRET)
    assert code_of(excinfo) == "invalid_claims"


def test_expired_token_with_bad_signature_is_still_refused() -> None:
    token = hs256({"nonce": "n", "exp": time.time() - 3600})
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(token, SECRET + b"other")
    assert code_of(excinfo) == "invalid_signature"


# --- other registered claims PyJWT checks -----------------------------------------------------


def test_token_addressed_to_an_audience_is_refused() -> None:
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(hs256({"nonce": "n", "aud": "https://api.other.example"}), SECRET)
    assert code_of(excinfo) == "invalid_claims"
    assert "aud" in excinfo.value.message


@pytest.mark.parametrize(("claim", "value"), [("sub", 42), ("jti", 7), ("iss", ["a"])])
def test_non_string_registered_claims(claim: str, value: Any) -> None:
    token = hs256_raw({"nonce": "n", claim: value})
    if claim == "iss":
        # iss is not checked without an expected issuer; it is just a claim.
        assert tokens.verify_hs256(token, SECRET)[claim] == value
        return
    with pytest.raises(ApiError) as excinfo:
        tokens.verify_hs256(token, SECRET)
    assert code_of(excinfo) == "invalid_claims"


def test_messages_never_echo_the_token() -> None:
    token = raw_token({"alg": "none", "kid": "SECRET-LOOKING-VALUE"})
    with pytest.raises(ApiError) as excinfo:
        tokens.token_kind(tokens.read_header(token))
    assert "SECRET-LOOKING-VALUE" not in excinfo.value.message
    assert token not in json.dumps(excinfo.value.body())
