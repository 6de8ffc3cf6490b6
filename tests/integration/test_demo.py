"""`countersign demo` (SPEC 5, issue 26 item 3): the whole signed path on a fresh local stack, each
step printed with its HTTP exchange, the secret never printed whole; run twice, it reuses its key."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.local import COUNTERSIGN, REPO_ROOT, LocalApi, running_local_stack


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """A stack of its own: the demo changes the demo application's settings."""
    with running_local_stack(tmp_path_factory.mktemp("demo-stack")) as api:
        yield api


def demo(local: LocalApi, *target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COUNTERSIGN), "demo", *target, "--state-dir", str(local.state_dir)],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT, check=False,
    )  # fmt: skip


def test_demo_runs_the_signed_path_and_shows_each_step(fresh: LocalApi) -> None:
    result = demo(fresh, "--local")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    app = fresh.demo_app
    steps = re.findall(r"^(\d+)\. (.+)$", out, flags=re.MULTILINE)
    assert [int(number) for number, _ in steps] == list(range(1, len(steps) + 1)) and len(steps) == 9
    for exchange in (
        f"> PATCH {fresh.url}/v1/apps/{app['appId']}/settings",
        f"> POST {fresh.url}/v1/apps/{app['appId']}/keys",
        f"> POST {fresh.url}/v1/apps/{app['appId']}/sessions",
        f"> POST {fresh.url}/v1/apps/{app['appId']}/events",
        "< 201 Created",
        '"signed": "hs256"',
        '"accepted": 2',
    ):
        assert exchange in out, exchange

    keys = fresh.call("GET", f"/v1/apps/{app['appId']}/keys", token=app["adminToken"]).body["activeKeys"]
    (key,) = [k for k in keys if k["description"] == "countersign demo"]
    secret = fresh.call("POST", f"/v1/apps/{app['appId']}/keys/{key['keyName']}/reveal", token=app["adminToken"])
    # Neither the key's secret nor the admin token is ever printed whole.
    for whole in (secret.body["secret"], app["adminToken"]):
        assert whole not in out and whole not in result.stderr
    assert f"{secret.body['secret'][:8]}…" in out

    # What it says it sent is there: raw events, coverage and the lake (lines printed as JSON).
    raw = fresh.call("GET", f"/v1/apps/{app['appId']}/raw-events", token=app["adminToken"]).body["events"]
    assert {(e["type"], e["visitorId"], e["verification"]["mode"]) for e in raw} == {
        ("page_view", "demo-visitor", "hs256"),
        ("click", "demo-visitor", "hs256"),
    }
    lake_lines = [json.loads(line) for line in out.splitlines() if line.startswith('  {"eventId"')]
    assert sorted(line["type"] for line in lake_lines) == ["click", "page_view"]
    assert all(line["verification"] == {"mode": "hs256", "keyName": key["keyName"]} for line in lake_lines)


def test_demo_again_reuses_its_key_and_defaults_to_the_local_stack(fresh: LocalApi) -> None:
    app = fresh.demo_app
    before = fresh.call("GET", f"/v1/apps/{app['appId']}/keys", token=app["adminToken"]).body["activeKeys"]
    result = demo(fresh)
    assert result.returncode == 0, result.stderr
    after = fresh.call("GET", f"/v1/apps/{app['appId']}/keys", token=app["adminToken"]).body["activeKeys"]
    assert [k["keyName"] for k in after] == [k["keyName"] for k in before]
    assert "an active key described 'countersign demo' exists" in result.stdout


def test_demo_without_a_running_stack_says_so_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(COUNTERSIGN), "demo", "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "make dev" in result.stderr
