"""The browser SDK's LIMITS are the server's (issue 22 item 3): each is tied here to the constant it
mirrors, so a limit changed on one side fails until the other follows. The SDK refuses at once what
the API would refuse, so a drift would either lose events the API accepts or send what it refuses."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from countersign import events
from countersign.api import INGEST_BODY_LIMIT

ROOT = Path(__file__).resolve().parents[3]


def sdk_limits() -> dict[str, int]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed to read the SDK's LIMITS (apt-get install nodejs)")
    script = "import { LIMITS } from './sdk/browser/src/events.js'; console.log(JSON.stringify(LIMITS));"
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    limits: dict[str, int] = json.loads(done.stdout)
    return limits


def test_the_sdk_limits_are_the_servers() -> None:
    assert sdk_limits() == {
        "batchEvents": events.MAX_EVENTS,
        "batchBytes": INGEST_BODY_LIMIT,
        "eventBytes": events.MAX_EVENT_BYTES,
        "contextBytes": events.MAX_CONTEXT_BYTES,
        "eventDepth": events.MAX_EVENT_DEPTH,
        "typeChars": events.MAX_TYPE_CHARS,
        "insertIdChars": events.MAX_INSERT_ID_CHARS,
        # The browsers' budget for keepalive requests in flight (64 KiB), not an API limit.
        "keepaliveBytes": 60 * 1024,
    }
