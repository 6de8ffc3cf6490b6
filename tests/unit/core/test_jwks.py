"""JWK Set parsing (which keys are usable for RS256) and the per-URI JWKS cache (SPEC 3.2, 3.4)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from countersign.errors import ApiError, DependencyUnavailable
from countersign.jwks import JwksCache, parse_jwk_set

URI = "https://keys.example.com/.well-known/jwks.json"


def b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_jwk(key: RSAPublicKey, kid: str | None, **members: Any) -> dict[str, Any]:
    numbers = key.public_numbers()
    jwk: dict[str, Any] = {"kty": "RSA", "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}
    if kid is not None:
        jwk["kid"] = kid
    jwk.update(members)
    return {name: value for name, value in jwk.items() if value is not None}


def document(*keys: dict[str, Any]) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


@pytest.fixture(scope="module")
def key_a() -> RSAPublicKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()


@pytest.fixture(scope="module")
def key_b() -> RSAPublicKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=3072).public_key()


@pytest.fixture(scope="module")
def weak_key() -> RSAPublicKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505


def document_invalid(body: bytes) -> str:
    with pytest.raises(ApiError) as caught:
        parse_jwk_set(body)
    assert caught.value.code == "jwks_document_invalid"
    assert caught.value.message == "Unable to fetch a JWK Set from the specified URI."
    detail: str = caught.value.extra["detail"]
    return detail


# ---------------------------------------------------------------------------------------------
# parse_jwk_set


def test_usable_keys_and_report(key_a: RSAPublicKey, key_b: RSAPublicKey) -> None:
    jwk_set = parse_jwk_set(document(rsa_jwk(key_a, "a", use="sig", alg="RS256"), rsa_jwk(key_b, "b")))
    assert set(jwk_set.keys) == {"a", "b"}
    assert jwk_set.keys["a"].public_numbers() == key_a.public_numbers()
    assert jwk_set.report() == [
        {"kid": "a", "kty": "RSA", "alg": "RS256", "bits": 2048},
        {"kid": "b", "kty": "RSA", "alg": "RS256", "bits": 3072},
    ]


def test_1024_bit_key_is_refused(weak_key: RSAPublicKey) -> None:
    assert "1024 bits" in document_invalid(document(rsa_jwk(weak_key, "weak")))


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"use": "enc"}, "use"),
        ({"alg": "RS512"}, "alg"),
        ({"alg": "none"}, "alg"),
        ({"key_ops": ["encrypt"]}, "key_ops"),
        ({"d": "AQAB"}, "private"),
        ({"kty": "oct"}, "kty"),
        ({"n": None}, "n is missing"),
        ({"e": 65537}, "e is missing"),
    ],
)
def test_unusable_members(key_a: RSAPublicKey, members: dict[str, Any], reason: str) -> None:
    assert reason in document_invalid(document(rsa_jwk(key_a, "k", **members)))


@pytest.mark.parametrize("kid", [None, "", 7, ["a"]])
def test_kid_must_be_a_non_empty_string(key_a: RSAPublicKey, kid: object) -> None:
    jwk = rsa_jwk(key_a, None)
    if kid is not None:
        jwk["kid"] = kid
    assert "kid" in document_invalid(document(jwk))


def test_base64url_is_strict(key_a: RSAPublicKey) -> None:
    good = rsa_jwk(key_a, "k")
    assert len(good["n"]) % 4 == 2  # 256 bytes, which padded base64 would end with "=="
    for bad in (
        {**good, "n": good["n"] + "=="},  # padded
        {**good, "n": good["n"][:-2] + "+/"},  # standard alphabet
        {**good, "n": good["n"][:10] + " " + good["n"][10:]},
        {**good, "n": good["n"][:-1]},  # a length no base64 has (4k + 1)
    ):
        assert "base64url" in document_invalid(document(bad))
    # "Aw" and "Ax" both decode to 0x03; only "Aw" (spare bits zero) is the canonical spelling.
    assert parse_jwk_set(document({**good, "e": "Aw"})).keys["k"].public_numbers().e == 3
    assert "canonical" in document_invalid(document({**good, "e": "Ax"}))


def test_other_key_types_are_ignored(key_a: RSAPublicKey) -> None:
    ec_numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    x, y = b64url_uint(ec_numbers.x), b64url_uint(ec_numbers.y)
    ec_jwk = {"kty": "EC", "crv": "P-256", "kid": "ec", "x": x, "y": y}
    jwk_set = parse_jwk_set(document(ec_jwk, rsa_jwk(key_a, "rsa")))
    assert list(jwk_set.keys) == ["rsa"]
    assert "kty is not RSA" in document_invalid(document(ec_jwk))


def test_duplicate_kid_first_usable_wins(
    key_a: RSAPublicKey,
    key_b: RSAPublicKey,
    weak_key: RSAPublicKey,
) -> None:
    jwk_set = parse_jwk_set(document(rsa_jwk(weak_key, "k"), rsa_jwk(key_a, "k"), rsa_jwk(key_b, "k")))
    assert jwk_set.keys["k"].public_numbers() == key_a.public_numbers()
    assert [entry["bits"] for entry in jwk_set.report()] == [2048]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json", "JSON"),
        (b"\xff\xfe\x00garbage", "JSON"),
        (b"[]", "JSON object"),
        (b'{"keys": {"a": 1}}', '"keys" list'),
        (b'{"kid": "a"}', '"keys" list'),
        (b'{"keys": []}', "keys list is empty"),
        (b'{"keys": [1, "x", null]}', "not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
    ],
)
def test_not_a_jwk_set(body: bytes, words: str) -> None:
    assert words in document_invalid(body)


# ---------------------------------------------------------------------------------------------
# JwksCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class FakeEndpoint:
    """A JWKS URI: serves `body` (or raises `failure`), counting fetches."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.failure: Exception | None = None
        self.fetches = 0
        self.delay = 0.0
        self._lock = threading.Lock()

    def __call__(self, uri: str) -> bytes:
        assert uri == URI
        with self._lock:
            self.fetches += 1
        if self.delay:
            time.sleep(self.delay)
        if self.failure is not None:
            raise self.failure
        return self.body


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def endpoint(key_a: RSAPublicKey) -> FakeEndpoint:
    return FakeEndpoint(document(rsa_jwk(key_a, "a")))


@pytest.fixture
def cache(endpoint: FakeEndpoint, clock: FakeClock) -> JwksCache:
    return JwksCache(endpoint, clock=clock)


def error_code(call: Any) -> str:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value.code


def test_ttl(cache: JwksCache, endpoint: FakeEndpoint, clock: FakeClock, key_a: RSAPublicKey) -> None:
    assert cache.public_key(URI, "a").public_numbers() == key_a.public_numbers()
    clock.now += 299
    cache.public_key(URI, "a")
    assert endpoint.fetches == 1
    clock.now += 2
    cache.public_key(URI, "a")
    assert endpoint.fetches == 2


@pytest.mark.parametrize("kid", [None, "", 5, b"a"])
def test_missing_kid_is_unknown_without_fetching(
    cache: JwksCache,
    endpoint: FakeEndpoint,
    kid: object,
) -> None:
    assert error_code(lambda: cache.public_key(URI, kid)) == "unknown_kid"
    assert endpoint.fetches == 0


def test_unknown_kid_triggers_exactly_one_refetch(
    cache: JwksCache,
    endpoint: FakeEndpoint,
    clock: FakeClock,
) -> None:
    cache.public_key(URI, "a")
    clock.now += 10
    assert error_code(lambda: cache.public_key(URI, "x")) == "unknown_kid"
    assert endpoint.fetches == 2
    assert error_code(lambda: cache.public_key(URI, "x")) == "unknown_kid"
    assert endpoint.fetches == 2


def test_newly_published_key_works_on_its_first_request(
    cache: JwksCache, endpoint: FakeEndpoint, clock: FakeClock, key_a: RSAPublicKey, key_b: RSAPublicKey
) -> None:
    cache.public_key(URI, "a")
    endpoint.body = document(rsa_jwk(key_a, "a"), rsa_jwk(key_b, "b"))
    clock.now += 0.5  # published right after the last fetch, well within the TTL
    assert cache.public_key(URI, "b").public_numbers() == key_b.public_numbers()
    assert endpoint.fetches == 2


@pytest.mark.parametrize("step", [0.0, 0.1, 0.25])
def test_random_kids_cause_a_handful_of_fetches(
    cache: JwksCache, endpoint: FakeEndpoint, clock: FakeClock, step: float
) -> None:
    cache.public_key(URI, "a")
    answers = set()
    for _ in range(40):
        clock.now += step
        with pytest.raises(ApiError) as caught:
            cache.public_key(URI, secrets.token_hex(8))
        answers.add(caught.value.code)
        # Looked for and absent (a drop), or not looked for yet: a retry, never a drop.
        assert caught.value.code == "unknown_kid" or int(caught.value.headers()["Retry-After"]) <= 10
    # The bucket (3 attempts, one more per 10 s): at most 4 fetches in these 10 s, the first included.
    assert endpoint.fetches <= 4
    assert answers == {"unknown_kid", "service_unavailable"}


def test_stale_set_is_served_while_the_endpoint_fails(
    cache: JwksCache, endpoint: FakeEndpoint, clock: FakeClock
) -> None:
    cache.public_key(URI, "a")
    endpoint.failure = ApiError("jwks_uri_unreachable", detail="down")
    clock.now += 301
    cache.public_key(URI, "a")
    assert endpoint.fetches == 2
    clock.now += 1  # within the refetch interval: no new attempt
    cache.public_key(URI, "a")
    assert endpoint.fetches == 2
    # The kid might have just been published: without a good refresh it is a 503, not a drop.
    clock.now += 10
    with pytest.raises(DependencyUnavailable) as caught:
        cache.public_key(URI, "new")
    assert caught.value.status == 503
    assert endpoint.fetches == 3
    clock.now = 1_000.0 + 86_400 - 1
    cache.public_key(URI, "a")
    clock.now = 1_000.0 + 86_400 + 1
    with pytest.raises(DependencyUnavailable):
        cache.public_key(URI, "a")
    endpoint.failure = None
    clock.now += 10
    cache.public_key(URI, "a")  # recovers as soon as the endpoint does


@pytest.mark.parametrize(
    "failure",
    [
        ApiError("jwks_uri_unreachable", detail="down"),
        ApiError("jwks_uri_invalid", detail="now resolves to 10.0.0.1"),
        ConnectionResetError(104, "reset"),
        DependencyUnavailable("jwks"),
    ],
)
def test_503_when_nothing_is_cached(
    cache: JwksCache, endpoint: FakeEndpoint, clock: FakeClock, failure: Exception
) -> None:
    endpoint.failure = failure
    with pytest.raises(DependencyUnavailable) as caught:
        cache.public_key(URI, "a")
    assert caught.value.status == 503
    assert not caught.value.is_drop
    assert caught.value.headers() == {"Retry-After": "2"}  # the backoff after a failed attempt
    with pytest.raises(DependencyUnavailable):
        cache.public_key(URI, "a")
    assert endpoint.fetches == 1  # rate-limited: a dead endpoint is not hammered
    clock.now += 5
    endpoint.failure = None
    cache.public_key(URI, "a")
    assert endpoint.fetches == 2


def test_invalid_document_with_nothing_cached_is_503(cache: JwksCache, endpoint: FakeEndpoint) -> None:
    endpoint.body = b'{"keys": []}'
    with pytest.raises(DependencyUnavailable):
        cache.public_key(URI, "a")


def test_invalidate(cache: JwksCache, endpoint: FakeEndpoint) -> None:
    cache.public_key(URI, "a")
    cache.invalidate(URI)
    cache.invalidate("https://never.example/")
    cache.public_key(URI, "a")
    assert endpoint.fetches == 2


def test_uris_are_cached_separately(key_a: RSAPublicKey, key_b: RSAPublicKey, clock: FakeClock) -> None:
    bodies = {
        "https://one.example/": document(rsa_jwk(key_a, "k")),
        "https://two.example/": document(rsa_jwk(key_b, "k")),
    }
    cache = JwksCache(bodies.__getitem__, clock=clock)
    assert cache.public_key("https://one.example/", "k").key_size == 2048
    assert cache.public_key("https://two.example/", "k").key_size == 3072


def run_threads(count: int, work: Any) -> list[object]:
    results: list[object] = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except ApiError as exc:
            results[index] = exc.code

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results


def test_concurrent_first_requests_fetch_once(cache: JwksCache, endpoint: FakeEndpoint) -> None:
    endpoint.delay = 0.2
    results = run_threads(20, lambda _: cache.public_key(URI, "a"))
    assert endpoint.fetches == 1
    assert all(isinstance(result, RSAPublicKey) for result in results)


def test_concurrent_unknown_kids_refetch_once(
    cache: JwksCache,
    endpoint: FakeEndpoint,
    clock: FakeClock,
) -> None:
    cache.public_key(URI, "a")
    clock.now += 10
    endpoint.delay = 0.1
    results = run_threads(20, lambda index: cache.public_key(URI, f"random-{index}"))
    # The first kid's fetch cannot answer for kids asked while it was in flight (their keys may be
    # newer than the document it got): the next one answers for all of them, so 20 kids stay
    # within the bucket's 3 attempts and every one is looked for (no 503).
    assert endpoint.fetches <= 1 + 3
    assert results == ["unknown_kid"] * 20


# ---------------------------------------------------------------- issue 12: hostile input, round 2


def test_random_kids_never_lock_out_a_newly_published_key(
    cache: JwksCache, endpoint: FakeEndpoint, clock: FakeClock, key_a: RSAPublicKey, key_b: RSAPublicKey
) -> None:
    """Random kids spend the refetch budget; the customer's new kid then waits (503), never drops."""
    cache.public_key(URI, "a")
    for _ in range(3):
        assert error_code(lambda: cache.public_key(URI, secrets.token_hex(8))) in {"unknown_kid", "service_unavailable"}
    endpoint.body = document(rsa_jwk(key_a, "a"), rsa_jwk(key_b, "b"))  # published after the last fetch
    clock.now += 0.5
    with pytest.raises(DependencyUnavailable) as caught:
        cache.public_key(URI, "b")
    retry_after = int(caught.value.headers()["Retry-After"])
    assert 1 <= retry_after <= 10
    for _ in range(3):  # the attacker keeps at it: one junk token right when an attempt is allowed
        clock.now += retry_after
        cache_answer = error_code(lambda: cache.public_key(URI, secrets.token_hex(8)))
        assert cache_answer == "unknown_kid"  # it got the attempt: that fetch looked for "b" too
        assert cache.public_key(URI, "b").public_numbers() == key_b.public_numbers()


def test_a_kid_is_dropped_only_after_a_fetch_that_started_after_it_was_asked_for(
    cache: JwksCache, endpoint: FakeEndpoint, clock: FakeClock
) -> None:
    cache.public_key(URI, "a")
    for _ in range(2):
        error_code(lambda: cache.public_key(URI, secrets.token_hex(8)))  # the budget is spent
    assert error_code(lambda: cache.public_key(URI, "gone")) == "service_unavailable"
    fetches = endpoint.fetches
    clock.now += 10
    assert error_code(lambda: cache.public_key(URI, "gone")) == "unknown_kid"  # looked for now
    assert endpoint.fetches == fetches + 1
    clock.now += 1  # within the interval: its absence stands without another fetch
    assert error_code(lambda: cache.public_key(URI, "gone")) == "unknown_kid"
    assert endpoint.fetches == fetches + 1


_KIDS = st.text(alphabet=st.characters(exclude_categories=()), max_size=300) | st.sampled_from(
    ["k" * 255, "k" * 256, "k" * 257, "k" * 300, "\ud800", "a\udfffb", "\x00", " ", "\u00e9t\u00e9"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kid=_KIDS)
def test_the_jwk_set_and_the_token_parser_agree_on_a_usable_kid(key_a: RSAPublicKey, kid: str) -> None:
    """A key the JWKS test route reports usable is one a token can select, and only such a key."""
    from countersign import tokens

    try:
        in_the_set = kid in parse_jwk_set(document(rsa_jwk(key_a, kid), rsa_jwk(key_a, "other"))).keys
    except ApiError:
        in_the_set = False
    segment = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": kid}).encode()).rstrip(b"=").decode()
    header = tokens.read_header(f"{segment}.e30.c2ln")
    assert in_the_set == (tokens.rs256_kid(header) == kid), repr(kid)


@pytest.mark.parametrize(
    ("refused", "reason"),
    [("weak", "1024 bits"), ("oct-1", "kty is not RSA"), ("enc-1", 'use is not "sig"')],
)
def test_a_kid_the_set_holds_but_refuses_is_a_definitive_401_even_with_the_budget_spent(
    clock: FakeClock, key_a: RSAPublicKey, weak_key: RSAPublicKey, refused: str, reason: str
) -> None:
    published = document(
        rsa_jwk(key_a, "a"),
        rsa_jwk(weak_key, "weak"),
        {"kty": "oct", "kid": "oct-1", "k": "c2VjcmV0"},
        rsa_jwk(key_a, "enc-1", use="enc"),
    )
    endpoint = FakeEndpoint(published)
    cache = JwksCache(endpoint, clock=clock)
    cache.public_key(URI, "a")
    for attempt in range(12):  # far past the refetch budget (3 at once, one more per 10 s)
        with pytest.raises(ApiError) as caught:
            cache.public_key(URI, refused)
        assert (caught.value.code, caught.value.status) == ("unknown_kid", 401), attempt
        assert "is in the application's JWK Set" in caught.value.message and reason in caught.value.message
        assert "c2VjcmV0" not in caught.value.message
    assert endpoint.fetches <= 4


def test_a_kid_the_set_did_not_hold_is_still_503_while_the_budget_is_spent(
    clock: FakeClock, key_a: RSAPublicKey, weak_key: RSAPublicKey
) -> None:
    endpoint = FakeEndpoint(document(rsa_jwk(key_a, "a"), rsa_jwk(weak_key, "weak")))
    cache = JwksCache(endpoint, clock=clock)
    cache.public_key(URI, "a")
    answers = set()
    for _ in range(6):
        with pytest.raises(ApiError) as caught:
            cache.public_key(URI, secrets.token_hex(8))
        answers.add((caught.value.code, caught.value.status))
    assert ("service_unavailable", 503) in answers


def test_a_refused_kid_that_is_also_usable_under_the_same_kid_verifies(
    clock: FakeClock, key_a: RSAPublicKey, weak_key: RSAPublicKey
) -> None:
    cache = JwksCache(FakeEndpoint(document(rsa_jwk(weak_key, "k"), rsa_jwk(key_a, "k"))), clock=clock)
    assert cache.public_key(URI, "k").public_numbers() == key_a.public_numbers()
