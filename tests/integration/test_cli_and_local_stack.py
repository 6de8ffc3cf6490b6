"""The `countersign` CLI and the local stack's lifecycle (SPEC 5)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.local import COUNTERSIGN, REPO_ROOT, LocalApi, running_local_stack, stop


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(COUNTERSIGN), *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)


def test_local_json_has_the_contract_fields(local: LocalApi) -> None:
    state = json.loads((local.state_dir / "local.json").read_text())
    assert {"apiUrl", "awsEndpointUrl", "region", "demoApp"} <= set(state)
    assert {"appId", "adminToken"} <= set(state["demoApp"])
    for url in (state["apiUrl"], state["awsEndpointUrl"]):
        assert urlsplit(url).hostname == "127.0.0.1"
    demo = state["demoApp"]
    assert local.call("GET", f"/v1/apps/{demo['appId']}/settings", token=demo["adminToken"]).status == 200


def test_apps_create_prints_app_and_token(local: LocalApi) -> None:
    created = local.create_app("CLI app")
    assert set(created) == {"appId", "adminToken"}
    assert len(created["adminToken"]) >= 4 + 43  # prefix + 256 bits in base64url
    assert local.call("GET", f"/v1/apps/{created['appId']}/settings", token=created["adminToken"]).status == 200


def test_rotate_token_revokes_the_old_one(local: LocalApi) -> None:
    created = local.create_app("rotating")
    out = local.cli(
        "apps", "rotate-token", "--app-id", created["appId"], "--local", "--state-dir", str(local.state_dir)
    )
    rotated = json.loads(out.stdout)
    settings = f"/v1/apps/{created['appId']}/settings"
    assert local.call("GET", settings, token=created["adminToken"]).status == 401
    assert local.call("GET", settings, token=rotated["adminToken"]).status == 200


def test_upgrade_index_receipts_puts_older_receipts_in_the_visitor_index(local: LocalApi) -> None:
    app = local.create_app("upgraded")
    base = f"/v1/apps/{app['appId']}"
    start = {"metadata": {"visitor": {"id": "old-timer"}}}
    session = local.call("POST", f"{base}/sessions", json_body=start).body["sessionId"]
    event = {"type": "view", "timestamp": int(time.time() * 1000), "insertId": "before-upgrade"}
    assert local.call("POST", f"{base}/events", json_body={"sessionId": session, "events": [event]}).status == 200
    dynamodb = local.aws_client("dynamodb")
    table = local.state["dataTable"]
    (receipt,) = dynamodb.query(
        TableName=table,
        IndexName="VisitorReceipts",
        KeyConditionExpression="visitorReceipts = :visitor",
        ExpressionAttributeValues={":visitor": {"S": f"{app['appId']}#old-timer"}},
    )["Items"]
    # The receipt as a stack without the index wrote it: a bare visitorId, no index key.
    dynamodb.update_item(
        TableName=table,
        Key={"pk": receipt["pk"], "sk": receipt["sk"]},
        UpdateExpression="SET visitorId = :visitor REMOVE visitorReceipts",
        ExpressionAttributeValues={":visitor": {"S": "old-timer"}},
    )

    def by_visitor() -> list[str]:
        raw = local.call("GET", f"{base}/raw-events", token=app["adminToken"], params={"visitorId": "old-timer"})
        return [e["insertId"] for e in raw.body["events"]]

    assert by_visitor() == []
    out = local.cli("upgrade", "index-receipts", "--local", "--state-dir", str(local.state_dir))
    assert json.loads(out.stdout) == {"indexedReceipts": 1}
    assert by_visitor() == ["before-upgrade"]


def test_user_mistakes_are_one_line_without_traceback(tmp_path: Path) -> None:
    for args in [
        ("apps", "create", "--name", "x", "--local", "--state-dir", str(tmp_path)),
        ("apps", "create", "--local"),
        ("apps", "create", "--name", "x"),
        ("local", "--host", "0.0.0.0"),  # noqa: S104 - the CLI must refuse it
        ("local", "--jwks-ca-bundle", str(tmp_path / "missing.pem")),
        ("sign", "--key-name", "k"),
        ("sign", "--private-key", str(tmp_path / "nope.pem"), "--kid", "k"),
        ("sign", "--claims", "{not json", "--key-name", "k", "--secret", "s"),
        ("keygen", "--kid", "k"),
        ("upgrade", "index-receipts"),
        ("upgrade", "index-receipts", "--local", "--state-dir", str(tmp_path)),
        ("nonsense",),
    ]:
        result = run(*args)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr, args
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines and lines[-1].startswith("countersign: error:"), (args, result.stderr)


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (the function containers and their zygote), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # it exited while we looked
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def still_running(pids: set[int], within: float = 10) -> set[int]:
    deadline = time.monotonic() + within
    while True:
        alive = {pid for pid in pids if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    with running_local_stack(tmp_path) as api:
        ports = [urlsplit(api.url).port, urlsplit(api.state["awsEndpointUrl"]).port]
        assert api.call("GET", "/openapi.json").status == 200
        children = descendants(api.process.pid)
        assert len(children) >= 1 + 5, "a zygote and one warm container per function"
        code = stop(api.process)
    assert code == 0
    assert not (tmp_path / "local.json").exists()
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port or 0)) != 0, f"port {port} still answers"
    assert not still_running(children), "function containers outlived the stack"


def test_sigterm_stops_everything_too(tmp_path: Path) -> None:
    import signal

    with running_local_stack(tmp_path) as api:
        port = urlsplit(api.url).port
        children = descendants(api.process.pid)
        api.process.send_signal(signal.SIGTERM)
        assert api.process.wait(timeout=15) == 0
    assert not (tmp_path / "local.json").exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port or 0)) != 0
    assert children and not still_running(children)


def test_containers_go_when_the_stack_is_killed(tmp_path: Path) -> None:
    """Even without a clean stop (kill -9), no container is left behind: each ends with its pipe."""
    with running_local_stack(tmp_path) as api:
        children = descendants(api.process.pid)
        api.process.kill()
        api.process.wait(timeout=15)
    assert children and not still_running(children)
