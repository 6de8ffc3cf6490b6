"""Every file in events/ is an API Gateway proxy event that gives the status events/README.md documents.

Each file is invoked in-process exactly as `sam local invoke <Function> -e events/<file>` would:
the function is the one template.yaml routes the event's resource and method to, and the
handler receives the file's JSON and a Lambda context.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.world import World

EVENTS = Path(__file__).resolve().parents[3] / "events"
ROW = re.compile(r"^\|\s*(?P<file>[\w.-]+\.json)\s*\|\s*(?P<function>\w+)\s*\|\s*(?P<status>\d{3})\s*\|")


def documented() -> dict[str, tuple[str, int]]:
    rows = {}
    for line in (EVENTS / "README.md").read_text().splitlines():
        found = ROW.match(line)
        if found:
            rows[found["file"]] = (found["function"], int(found["status"]))
    return rows


def test_every_event_file_is_documented_and_every_row_has_a_file() -> None:
    files = {path.name for path in EVENTS.glob("*.json")}
    assert files, "events/ holds no event"
    assert files == set(documented())


@pytest.mark.parametrize(("name", "expected"), sorted(documented().items()))
def test_event_file_gives_documented_status(world: World, name: str, expected: tuple[str, int]) -> None:
    function, status = expected
    event = json.loads((EVENTS / name).read_text())
    for field in ("resource", "path", "httpMethod", "headers", "requestContext", "body", "isBase64Encoded"):
        assert field in event, f"{name} lacks {field}"
    assert world.function_for(event) == function, f"template.yaml routes {name} elsewhere"

    world.seed_example_app()
    response = world.invoke(event)

    assert response["statusCode"] == status, response.get("body")
    headers = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
    headers.update({name.lower(): values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()})
    if status >= 400 or headers.get("content-type", "").startswith("application/json"):
        body = json.loads(response["body"])
    if status >= 400:
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    else:  # the web function's files: served whole, with their own type
        assert response["body"] and headers["content-type"]
