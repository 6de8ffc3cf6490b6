"""(c) The verification cost of a session start against a bare `jwt.decode` of the same token.

The verification core (`countersign.verify.verify_credentials`) runs exactly as a warm ingest
container runs it: the real `KeyDirectory` over an application view held in memory, its
decrypted-secret cache already filled, and the real `JwksCache` already holding the JWK Set. So
what is measured is everything a warm session start does to decide the credentials (reading them
from the body, strict parsing, the acceptance table, key status, signature, claims rules), and
nothing of AWS.

The bare decode is what a service that trusted PyJWT alone would do:
`jwt.decode(token, key, algorithms=[...])`. Rounds alternate which side goes first; the ratio
is the median of the per-round ratios.
"""

from __future__ import annotations

import base64
import gc
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from benchmarks.report import Figure, median
from countersign import app_view
from countersign.app_view import AppView, KeyDirectory
from countersign.jwks import JwksCache
from countersign.sdk_requests import Credentials
from countersign.settings import Settings
from countersign.store.keys import SigningKeys
from countersign.verify import verify_credentials

APP_ID = "app_benchmark000000"
KEY_NAME = "key_0123456789ab"
SECRET = b"css_benchmark-secret-of-forty-seven-characters"
KID = "key-2026-11"
JWKS_URI = "https://keys.example.com/.well-known/jwks.json"


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "nonce": "0f8c2a4e-7a1b-4f7e-9a55-5b3f6f0d2c11",
        "visitor": {"id": "visitor-42", "email": "ada@example.com", "plan": "pro", "role": "admin"},
        "account": {"id": "acme", "name": "Acme Corp", "tier": "enterprise"},
        "iat": now,
        "exp": now + 3600,
    }


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _timed(function: Callable[[], object], iterations: int) -> float:
    """Seconds per call over `iterations` calls, garbage collection off (as timeit does)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(iterations):
            function()
        return (time.perf_counter() - started) / iterations
    finally:
        if enabled:
            gc.enable()


def compare(
    core: Callable[[], object], bare: Callable[[], object], *, iterations: int, rounds: int
) -> tuple[float, float, float]:
    """(median ratio core/bare, median core seconds, median bare seconds)."""
    for function in (core, bare):
        _timed(function, max(1, iterations // 10))  # warm: imports, caches, branch predictors
    ratios, cores, bares = [], [], []
    for index in range(rounds):
        if index % 2:
            bare_s, core_s = _timed(bare, iterations), _timed(core, iterations)
        else:
            core_s, bare_s = _timed(core, iterations), _timed(bare, iterations)
        ratios.append(core_s / bare_s)
        cores.append(core_s)
        bares.append(bare_s)
    return median(ratios), median(cores), median(bares)


def verification_figures(rounds: int = 61) -> list[Figure]:
    settings = Settings(
        use_signed_metadata=True, use_rs256_signed_metadata=True, jwks_uri=JWKS_URI, updated_at="2026-01-01T00:00:00Z"
    )
    ciphertext = b"sealed-by-kms"
    view = AppView(APP_ID, settings, SigningKeys(active={KEY_NAME: ciphertext}))
    app_view._secrets().put((APP_ID, KEY_NAME, ciphertext), SECRET)  # the warm container's decrypted secret

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = private_key.public_key()
    numbers = public_key.public_numbers()
    document = json.dumps(
        {"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256", "n": _b64(numbers.n), "e": _b64(numbers.e)}]}
    ).encode()
    jwks = JwksCache(lambda uri: document)
    jwks.public_key(JWKS_URI, KID)  # fetched once: the cache is warm

    claims = _claims()
    hs_token = jwt.encode(claims, SECRET, algorithm="HS256")
    rs_token = jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": KID})
    hs_body = {"jwt": hs_token, "signingKeyName": KEY_NAME}
    rs_body = {"jwt": rs_token}

    def hs_core() -> object:
        return verify_credentials(Credentials.from_body(hs_body), settings, KeyDirectory(view), jwks, now=time.time())

    def rs_core() -> object:
        return verify_credentials(Credentials.from_body(rs_body), settings, KeyDirectory(view), jwks, now=time.time())

    section = f"(c) session-start verification / bare jwt.decode of the same token (median of {rounds} rounds)"
    figures = []
    for name, core, bare, iterations in (
        ("HS256", hs_core, lambda: jwt.decode(hs_token, SECRET, algorithms=["HS256"]), 300),
        ("RS256", rs_core, lambda: jwt.decode(rs_token, public_key, algorithms=["RS256"]), 150),
    ):
        ratio, core_s, bare_s = compare(core, bare, iterations=iterations, rounds=rounds)
        figures.append(
            Figure(
                section,
                f"{name}: verify_credentials / jwt.decode",
                ratio,
                "x",
                1.2,
                f"{core_s * 1e6:.0f} us vs {bare_s * 1e6:.0f} us per token",
            )
        )
    return figures
