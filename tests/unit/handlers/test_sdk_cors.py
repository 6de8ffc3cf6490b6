"""The SDK routes answer browsers on any origin, and let them read Retry-After and Date (SPEC 8: the SDK
waits at least Retry-After before it retries; issue 21: it corrects a wrong client clock by Date)."""

from __future__ import annotations

import pytest

from tests.support.world import World
from tests.unit.handlers.test_web_function import get


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/apps/app_0123456789abcdef/sessions"),
        ("POST", "/v1/apps/app_0123456789abcdef/events"),
        ("PATCH", "/v1/apps/app_0123456789abcdef/sessions/s_example-session-000000000000000000000"),
    ],
)
def test_error_answers_are_readable_by_a_page_on_another_origin(world: World, method: str, path: str) -> None:
    world.seed_example_app()
    response = get(world, path, {"Origin": "https://shop.example"}, method=method)
    assert response["statusCode"] == 400  # no body: invalid_json
    assert response["headers"]["access-control-allow-origin"] == "*"
    assert response["headers"]["access-control-expose-headers"] == "Retry-After,Date"
