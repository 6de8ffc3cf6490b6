"""The local stack's opt-in fault injection (`countersign local --sdk-faults`): which requests fail, and how."""

from __future__ import annotations

import json

import pytest

from countersign_dev.emulation.faults import KINDS, SdkFaults

SDK_REQUESTS = [
    ("POST", "/v1/apps/app_1/sessions"),
    ("PATCH", "/v1/apps/app_1/sessions/s_1"),
    ("POST", "/v1/apps/app_1/events"),
]


def test_a_share_of_sdk_requests_fails_in_every_way() -> None:
    faults = SdkFaults(0.3, seed=7)
    picked = [faults.pick(method, path) for _ in range(1000) for method, path in SDK_REQUESTS]
    failed = [fault for fault in picked if fault]
    assert 0.25 < len(failed) / len(picked) < 0.35
    assert {fault.kind for fault in failed} == set(KINDS)
    assert sum(faults.injected.values()) == len(failed)


def test_a_seed_makes_the_faults_reproducible() -> None:
    def run(seed: int) -> list[str | None]:
        faults = SdkFaults(0.5, seed=seed)
        return [getattr(faults.pick("POST", "/v1/apps/a/events"), "kind", None) for _ in range(50)]

    assert run(3) == run(3) and run(3) != run(4)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("OPTIONS", "/v1/apps/app_1/events"),  # CORS preflights are the gateway's own
        ("GET", "/v1/apps/app_1/settings"),
        ("GET", "/sdk/countersign.js"),
        ("POST", "/v1/apps/app_1/keys"),
        ("POST", "/v1/apps/app_1/events/extra"),
    ],
)
def test_other_requests_never_fail(method: str, path: str) -> None:
    faults = SdkFaults(1.0, seed=1)
    assert all(faults.pick(method, path) is None for _ in range(20))


def test_answers_are_readable_by_a_browser_and_say_when_to_retry() -> None:
    faults = SdkFaults(1.0, seed=1)
    seen = {}
    while len(seen) < len(KINDS):
        fault = faults.pick("POST", "/v1/apps/a/events")
        assert fault is not None
        seen[fault.kind] = fault
    for kind, fault in seen.items():
        status, headers, body = fault.answer()
        assert status == (429 if kind == "throttled" else 503)
        assert headers["Retry-After"] == ["1"]
        assert headers["Access-Control-Allow-Origin"] == ["*"]
        assert headers["Access-Control-Expose-Headers"] == ["Retry-After"]
        assert set(json.loads(body)["error"]) == {"code", "message"}
    assert seen["lost_answer"].before_function is False
    assert seen["unavailable"].before_function and seen["throttled"].before_function


def test_the_share_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="share"):
        SdkFaults(1.5)
