"""lastUsedAt of keys and kids (SPEC 3.5): at most one write per key per minute per container."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from countersign.coverage import last_used_minute
from countersign.key_usage import MinuteClaims, last_used_at

MINUTE = 60_000


def test_a_key_is_claimed_once_per_minute() -> None:
    claims = MinuteClaims()
    assert claims.claim("k", 10 * MINUTE)
    assert not claims.claim("k", 10 * MINUTE)
    assert claims.claim("other", 10 * MINUTE)
    assert claims.claim("k", 11 * MINUTE)
    # A request that read the clock just before a later one claimed does not write the past.
    assert not claims.claim("k", 10 * MINUTE)


def test_concurrent_uses_of_one_minute_claim_it_once() -> None:
    claims = MinuteClaims()
    start = threading.Barrier(16)
    won: list[bool] = []
    lock = threading.Lock()

    def use() -> None:
        start.wait()
        for _ in range(50):
            result = claims.claim(("app", "key", "k"), 5 * MINUTE)
            with lock:
                won.append(result)

    threads = [threading.Thread(target=use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert won.count(True) == 1 and len(won) == 16 * 50


def test_a_released_claim_is_tried_again_but_not_over_a_later_one() -> None:
    claims = MinuteClaims()
    assert claims.claim("k", 3 * MINUTE)
    claims.release("k", 3 * MINUTE)
    assert claims.claim("k", 3 * MINUTE)
    assert claims.claim("k", 4 * MINUTE)
    claims.release("k", 3 * MINUTE)  # a late failure of the older write keeps the newer claim
    assert not claims.claim("k", 4 * MINUTE)


def test_claims_are_bounded() -> None:
    claims = MinuteClaims(max_entries=3)
    for key in "abcd":
        assert claims.claim(key, MINUTE)
    assert claims.claim("a", MINUTE)  # the oldest was forgotten: at worst one more write
    assert not claims.claim("d", MINUTE)


def test_last_used_at_has_minute_precision() -> None:
    moment = datetime(2026, 11, 26, 14, 5, 59, 999999, tzinfo=UTC)
    minute = last_used_minute(moment)
    assert minute == datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    assert last_used_at(int(minute.timestamp() * 1000)) == "2026-11-26T14:05:00Z"
    assert last_used_at(None) is None
