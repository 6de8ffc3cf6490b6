"""countersign.tokens decides exactly what `jwt.decode` decides, for every token the strict parse lets
through: verification parses a token once and runs PyJWT's HS256/RS256 algorithm and claim rules
itself (BENCHMARKS.md, "verification"), so this holds it to the library's own answer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.exceptions import InvalidJTIError, InvalidSubjectError

from countersign import tokens
from countersign.errors import ApiError

SECRET = b"css_parity-secret-of-forty-seven-characters-00"
NOW = int(time.time())

# Registered claims PyJWT validates, each on its own and at the edges of the 60 s leeway.
PAYLOADS: list[dict[str, Any]] = [
    {},
    {"exp": NOW + 3600},
    {"exp": NOW - 30},
    {"exp": NOW - 3600},
    {"exp": NOW + 600.5},
    {"exp": NOW - 120.9},
    {"nbf": NOW + 30},
    {"nbf": NOW + 3600},
    {"nbf": NOW - 5.5},
    {"iat": NOW},
    {"iat": NOW + 3600},
    {"iat": NOW + 30.7},
    {"aud": "https://api.other.example"},
    {"aud": ["a", "b"]},
    {"aud": ""},
    {"aud": []},
    {"aud": None},
    {"aud": 0},
    {"sub": "user-1"},
    {"sub": 42},
    {"sub": None},
    {"jti": "id-1"},
    {"jti": 7},
    {"jti": None},
    {"iss": ["not", "checked"]},
    {"exp": NOW - 3600, "aud": "x", "sub": 1},
    {"nbf": NOW + 3600, "exp": NOW - 3600},
]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed(header: dict[str, Any], payload: dict[str, Any], secret: bytes = SECRET) -> str:
    """An HS256 token with any header and payload (PyJWT's encoder refuses some of these)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def rs_signed(payload: dict[str, Any], private_key: rsa.RSAPrivateKey) -> str:
    signing_input = f"{b64(json.dumps({'alg': 'RS256', 'kid': 'k1'}).encode())}.{b64(json.dumps(payload).encode())}"
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def pyjwt_answer(token: str, key: Any, algorithm: str) -> str | dict[str, Any]:
    """What `jwt.decode` says, in the service's error codes (the mapping tokens.py documents)."""
    try:
        return jwt.decode(token, key, algorithms=[algorithm], leeway=tokens.LEEWAY_SECONDS)
    except jwt.ExpiredSignatureError:
        return "token_expired"
    except jwt.ImmatureSignatureError:
        return "token_not_yet_valid"
    except jwt.InvalidSignatureError:
        return "invalid_signature"
    except jwt.InvalidKeyError:
        return "invalid_signature"
    except (jwt.InvalidAudienceError, jwt.InvalidIssuedAtError, InvalidSubjectError, InvalidJTIError):
        return "invalid_claims"
    except jwt.InvalidTokenError:
        return "malformed_token"


def our_answer(verify: Any, token: str | tokens.ParsedToken, key: Any) -> str | dict[str, Any]:
    try:
        return dict(verify(token, key))
    except ApiError as error:
        return error.code


@pytest.mark.parametrize("payload", PAYLOADS, ids=[json.dumps(p) for p in PAYLOADS])
@pytest.mark.parametrize("good_signature", [True, False], ids=["signed", "bad-signature"])
def test_hs256_answers_as_jwt_decode(payload: dict[str, Any], good_signature: bool) -> None:
    token = signed({"alg": "HS256", "typ": "JWT"}, {"nonce": "n", **payload})
    key = SECRET if good_signature else SECRET + b"-other"
    expected = pyjwt_answer(token, key, "HS256")
    assert our_answer(tokens.verify_hs256, token, key) == expected
    # The same answer when the verification core hands over the token it already parsed.
    assert our_answer(tokens.verify_hs256, tokens.parse(token), key) == expected


@pytest.mark.parametrize("payload", PAYLOADS, ids=[json.dumps(p) for p in PAYLOADS])
def test_rs256_answers_as_jwt_decode(payload: dict[str, Any], rsa_key: rsa.RSAPrivateKey) -> None:
    token = rs_signed({"nonce": "n", **payload}, rsa_key)
    public_key = rsa_key.public_key()
    assert our_answer(tokens.verify_rs256, token, public_key) == pyjwt_answer(token, public_key, "RS256")


def test_rs256_bad_signature_answers_as_jwt_decode(rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode({"nonce": "n"}, rsa_key, algorithm="RS256", headers={"kid": "k1"})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    assert our_answer(tokens.verify_rs256, token, other) == pyjwt_answer(token, other, "RS256") == "invalid_signature"


@pytest.mark.parametrize("kid", [7, None, ["k"], {"k": 1}])
def test_a_kid_that_is_not_a_string_answers_as_jwt_decode(kid: Any) -> None:
    token = signed({"alg": "HS256", "kid": kid}, {"nonce": "n"})
    assert our_answer(tokens.verify_hs256, token, SECRET) == pyjwt_answer(token, SECRET, "HS256") == "malformed_token"


def test_an_hs256_secret_is_checked_on_every_use_until_accepted() -> None:
    # A PEM is refused as an HMAC secret each time (only accepted secrets are remembered).
    pem = b"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n"
    token = signed({"alg": "HS256"}, {"nonce": "n"}, pem)
    for _ in range(2):
        assert our_answer(tokens.verify_hs256, token, pem) == pyjwt_answer(token, pem, "HS256") == "invalid_signature"
