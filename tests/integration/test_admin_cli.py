"""The admin commands of SPEC 5 (`countersign settings|keys|jwks-uri|raw-events|diagnostics|coverage`),
run as a user runs them, against the local stack over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest

from tests.support.local import COUNTERSIGN, REPO_ROOT, LocalApi

CONFIRM = {"confirmation": "I understand"}


def countersign(
    *args: str, token: str | None = None, answer: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI with COUNTERSIGN_ADMIN_TOKEN set to `token` (or unset), `answer` typed on stdin."""
    environ = {k: v for k, v in os.environ.items() if k != "COUNTERSIGN_ADMIN_TOKEN"} | (env or {})
    if token is not None:
        environ["COUNTERSIGN_ADMIN_TOKEN"] = token
    return subprocess.run(
        [str(COUNTERSIGN), *args],
        input=answer if answer is not None else "",
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=environ, check=False,
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The failed command's error: exit non-zero, one `countersign: error:` line, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("countersign: error: "), result.stderr
    return last


@pytest.fixture
def target(local: LocalApi, app: dict[str, str]) -> tuple[list[str], str]:
    """`--api URL --app APP` of a fresh application, and its admin token (for the environment)."""
    return ["--api", local.url, "--app", app["appId"]], app["adminToken"]


def api(local: LocalApi, app: dict[str, str], method: str, suffix: str, body: Any = None) -> Any:
    reply = local.call(method, f"/v1/apps/{app['appId']}{suffix}", json_body=body, token=app["adminToken"])
    assert reply.status < 300, reply.body
    return reply.body


def test_settings_get_and_set_as_table_and_json(local: LocalApi, app: dict[str, str], target: Any) -> None:
    where, token = target
    shown = countersign("settings", "get", *where, token=token)
    assert shown.returncode == 0, shown.stderr
    assert "Use signed metadata         off" in shown.stdout
    assert "Only allow signed metadata  off" in shown.stdout

    changed = countersign("settings", "set", "--use-signed-metadata", "on", *where, "--json", token=token)
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["useSignedMetadata"] is True
    assert api(local, app, "GET", "/settings")["useSignedMetadata"] is True
    # Turning a mode on drops nothing: no question was asked.
    assert "I understand" not in changed.stderr


def test_the_demo_app_of_local_needs_no_token(local: LocalApi) -> None:
    result = countersign("settings", "get", "--local", "--state-dir", str(local.state_dir), "--json")
    assert result.returncode == 0, result.stderr
    demo = local.demo_app
    expected = local.call("GET", f"/v1/apps/{demo['appId']}/settings", token=demo["adminToken"]).body
    assert json.loads(result.stdout) == expected


def test_another_local_app_takes_its_token_from_the_environment(local: LocalApi, app: dict[str, str]) -> None:
    where = ["--local", "--state-dir", str(local.state_dir), "--app", app["appId"]]
    refused = one_line_error(countersign("keys", "list", *where))
    assert "COUNTERSIGN_ADMIN_TOKEN" in refused
    listed = countersign("keys", "list", *where, token=app["adminToken"], env={})
    assert listed.returncode == 0 and "Active keys (0 of 5)" in listed.stdout


def test_only_allow_asks_for_the_typed_confirmation_and_shows_the_impact(
    local: LocalApi, app: dict[str, str], target: Any
) -> None:
    where, token = target
    api(local, app, "PATCH", "/settings", {"useSignedMetadata": True})
    unsigned = {"metadata": {"visitor": {"id": "v-unsigned"}, "account": {"id": "a-1"}}}
    assert local.call("POST", f"/v1/apps/{app['appId']}/sessions", json_body=unsigned).status == 201

    for typed in ("yes", "i understand", ""):
        refused = countersign(
            "settings", "set", "--only-allow-signed-metadata", "on", *where, token=token, answer=typed
        )
        one_line_error(refused)
        assert 'Type "I understand" to confirm' in refused.stderr
        assert "Dropped data cannot be recovered" in refused.stderr
        assert "Impact:" in refused.stderr
        assert api(local, app, "GET", "/settings")["onlyAllowSignedMetadata"] is False

    confirmed = countersign(
        "settings", "set", "--only-allow-signed-metadata", "on", *where, token=token, answer="I understand\n"
    )
    assert confirmed.returncode == 0, confirmed.stderr
    assert "Only allow signed metadata  on" in confirmed.stdout
    assert api(local, app, "GET", "/settings")["onlyAllowSignedMetadata"] is True


def test_the_impact_is_the_dry_run_figure(local: LocalApi, app: dict[str, str], target: Any) -> None:
    where, token = target
    api(local, app, "PATCH", "/settings", {"useSignedMetadata": True})
    for visitor in ("v-1", "v-2"):
        body = {"metadata": {"visitor": {"id": visitor}, "account": {"id": "a-1"}}}
        assert local.call("POST", f"/v1/apps/{app['appId']}/sessions", json_body=body).status == 201
    dry = local.call(
        "PATCH",
        f"/v1/apps/{app['appId']}/settings",
        json_body={"onlyAllowSignedMetadata": True, **CONFIRM, "dryRun": True},
        token=app["adminToken"],
    )
    assert dry.status == 200, dry.body
    sessions = dry.body["impact"]["wouldDrop"]["sessions"]
    assert sessions == 2
    asked = countersign("settings", "set", "--only-allow-signed-metadata", "on", *where, token=token, answer="no")
    assert f"would have dropped {sessions} session" in asked.stderr


def test_yes_confirms_without_asking(local: LocalApi, app: dict[str, str], target: Any) -> None:
    where, token = target
    api(local, app, "PATCH", "/settings", {"useSignedMetadata": True})
    result = countersign("settings", "set", "--only-allow-signed-metadata", "on", "--yes", *where, token=token)
    assert result.returncode == 0, result.stderr
    assert "I understand" not in result.stderr
    assert api(local, app, "GET", "/settings")["onlyAllowSignedMetadata"] is True


def test_a_refused_change_says_what_to_do_without_asking(local: LocalApi, app: dict[str, str], target: Any) -> None:
    where, token = target
    no_mode = countersign("settings", "set", "--only-allow-signed-metadata", "on", *where, token=token, answer="")
    line = one_line_error(no_mode)
    assert "no_signing_mode" in line and "HTTP 409" in line
    assert "Type" not in no_mode.stderr  # the dry run refused it before anything was asked

    api(local, app, "PATCH", "/settings", {"useSignedMetadata": True})
    api(local, app, "PATCH", "/settings", {"onlyAllowSignedMetadata": True, **CONFIRM})
    locked = one_line_error(countersign("settings", "set", "--use-signed-metadata", "off", *where, token=token))
    assert "Turn onlyAllowSignedMetadata off first" in locked and "only_signed_metadata_enabled" in locked
    assert api(local, app, "GET", "/settings")["useSignedMetadata"] is True


def test_keys_create_list_reveal(local: LocalApi, app: dict[str, str], target: Any) -> None:
    where, token = target
    created = countersign("keys", "create", "--description", "web server", *where, "--json", token=token)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["status"] == "active" and key["description"] == "web server"
    quiet = countersign("keys", "create", *where, "--description", "mobile", "-q", token=token)
    second = quiet.stdout.strip()
    assert second.startswith("key_") and second != key["keyName"]

    listed = countersign("keys", "list", *where, token=token)
    assert "Active keys (2 of 5)" in listed.stdout
    assert key["keyName"] in listed.stdout and "web server" in listed.stdout
    assert "css_" not in listed.stdout  # never a secret in a listing

    secret = countersign("keys", "reveal", key["keyName"], *where, "-q", token=token).stdout.strip()
    assert secret == api(local, app, "POST", f"/keys/{key['keyName']}/reveal")["secret"]
    table = countersign("keys", "reveal", key["keyName"], *where, token=token).stdout
    assert f"Secret    {secret}" in table


def test_keys_revoke_asks_with_the_last_use(local: LocalApi, app: dict[str, str], target: Any) -> None:
    where, token = target
    api(local, app, "PATCH", "/settings", {"useSignedMetadata": True})
    key = api(local, app, "POST", "/keys", {"description": "old server"})
    secret = api(local, app, "POST", f"/keys/{key['keyName']}/reveal")["secret"]
    signed = jwt.encode({"nonce": uuid.uuid4().hex, "visitor": {"id": "v-1"}}, secret.encode(), algorithm="HS256")
    start = {"jwt": signed, "signingKeyName": key["keyName"]}
    assert local.call("POST", f"/v1/apps/{app['appId']}/sessions", json_body=start).status == 201
    last_use = api(local, app, "GET", "/keys")["activeKeys"][0]["lastUsedAt"]
    assert last_use is not None

    for answer in ("n\n", "", "whatever\n"):
        kept = countersign("keys", "revoke", key["keyName"], *where, token=token, answer=answer)
        one_line_error(kept)
        assert f"Revoke {key['keyName']} (old server)?" in kept.stderr
        assert f"Last used: {last_use}" in kept.stderr
        assert "In the last 24 hours it signed 1 session and 0 events." in kept.stderr
        assert "cannot be undone" in kept.stderr
        assert api(local, app, "GET", "/keys")["activeKeys"][0]["status"] == "active"

    revoked = countersign("keys", "revoke", key["keyName"], *where, token=token, answer="y\n")
    assert revoked.returncode == 0, revoked.stderr
    assert f"Revoked {key['keyName']} at " in revoked.stdout
    listing = api(local, app, "GET", "/keys")
    assert listing["activeKeys"] == [] and [k["keyName"] for k in listing["revokedKeys"]] == [key["keyName"]]
    log = countersign("keys", "list", *where, token=token).stdout
    assert log.index("Revoked keys") < log.index(key["keyName"])

    again = one_line_error(countersign("keys", "revoke", key["keyName"], *where, "--yes", token=token))
    assert "key_revoked" in again and "HTTP 409" in again


def test_keys_revoke_with_yes_does_not_ask(local: LocalApi, app: dict[str, str], target: Any) -> None:
    where, token = target
    key = api(local, app, "POST", "/keys", {"description": "ci"})
    result = countersign("keys", "revoke", "--yes", key["keyName"], *where, "--json", token=token)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["status"] == "revoked"


def test_api_text_cannot_drive_the_terminal(local: LocalApi, app: dict[str, str], target: Any) -> None:
    where, token = target
    api(local, app, "POST", "/keys", {"description": "evil \x1b[2J\x1b]0;owned\x07 key"})
    listed = countersign("keys", "list", *where, token=token)
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    assert "evil \\x1b[2J" in listed.stdout


def test_jwks_uri_errors_carry_message_and_detail(local: LocalApi, app: dict[str, str], target: Any) -> None:
    where, token = target
    loopback = countersign("jwks-uri", "test", "https://127.0.0.1/jwks.json", *where, token=token)
    line = one_line_error(loopback)
    assert "The JWKS URI is invalid." in line and "loopback" in line and "jwks_uri_invalid" in line
    as_json = countersign("jwks-uri", "test", "https://127.0.0.1/jwks.json", *where, "--json", token=token)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["error"]["code"] == "jwks_uri_invalid"

    empty = one_line_error(countersign("jwks-uri", "test", "", *where, token=token))
    assert "The JWKS URI cannot be empty." in empty
    api(local, app, "PATCH", "/settings", {"useRs256SignedMetadata": True})
    untested = one_line_error(countersign("jwks-uri", "save", "https://jwks.example.com/keys", *where, token=token))
    assert "jwks_uri_not_tested" in untested


def test_raw_events_diagnostics_and_coverage(local: LocalApi, app: dict[str, str], target: Any) -> None:
    where, token = target
    base = f"/v1/apps/{app['appId']}"
    now = int(time.time() * 1000)
    for visitor in ("v-alpha", "v-beta"):
        start = {"metadata": {"visitor": {"id": visitor}, "account": {"id": "acme"}}}
        session = local.call("POST", f"{base}/sessions", json_body=start).body["sessionId"]
        batch = {"sessionId": session, "events": [{"type": "page_view", "name": f"home-{visitor}", "timestamp": now}]}
        assert local.call("POST", f"{base}/events", json_body=batch).body["accepted"] == 1
    bad = {"jwt": "not-a-token", "signingKeyName": "key_000000000000"}
    assert local.call("POST", f"{base}/sessions", json_body=bad).status >= 400

    raw = countersign("raw-events", *where, "--visitor", "v-alpha", token=token)
    assert raw.returncode == 0, raw.stderr
    assert "home-v-alpha" in raw.stdout and "home-v-beta" not in raw.stdout
    assert "unsigned" in raw.stdout
    limited = json.loads(countersign("raw-events", *where, "--limit", "1", "--json", token=token).stdout)
    assert limited["count"] == 1
    # One event a page, following the line under each table: every event once, newest first.
    pages, more = [], ["--limit", "1"]
    while more and len(pages) < 5:
        page = countersign("raw-events", *where, *more, token=token)
        assert page.returncode == 0, page.stderr
        pages.append(page.stdout)
        hint = re.search(r"^Older events are left: add --cursor (\S+) to list on\.$", page.stdout, re.MULTILINE)
        more = ["--limit", "1", "--cursor", hint.group(1)] if hint else []
    assert [re.findall(r"home-v-\w+", page) for page in pages if "home-" in page] == [["home-v-beta"], ["home-v-alpha"]]
    junk = one_line_error(countersign("raw-events", *where, "--cursor", "not-a-cursor", token=token))
    assert "(invalid_request, HTTP 400)" in junk and "cursor" in junk
    assert "(no accepted events yet)" in countersign("raw-events", *where, "--visitor", "nobody", token=token).stdout

    diagnostics = countersign("diagnostics", *where, token=token)
    assert diagnostics.returncode == 0, diagnostics.stderr
    expected = api(local, app, "GET", "/diagnostics")
    dropped_reason = next(iter(expected["counts"]["dropped"]))
    assert dropped_reason in diagnostics.stdout and "Recent drops" in diagnostics.stdout
    words = expected["reasons"][dropped_reason]
    assert f"{dropped_reason}: {words['meaning']}\n  fix: {words['fix']}\n" in diagnostics.stdout

    coverage = countersign("coverage", *where, "--hours", "2", token=token)
    answer = local.call("GET", f"{base}/coverage", token=token, params={"hours": 2})
    assert coverage.returncode == 0, coverage.stderr
    assert re.search(r"^unsigned\s+2\s+2$", coverage.stdout, re.MULTILINE)
    assert "Last 2 hours" in coverage.stdout
    assert f"would have dropped {answer.body['wouldDrop']['sessions']} session" in coverage.stdout


def test_a_quiet_visitors_event_is_found_after_240_batches_of_a_busy_one(
    local: LocalApi, app: dict[str, str], target: Any
) -> None:
    """Issue 12, defect 5, over HTTP and through the CLI: the visitor filter reads that visitor's
    receipts (the VisitorReceipts index of the local stack's table), not a page of everyone's."""
    where, token = target
    base = f"/v1/apps/{app['appId']}"

    def session(visitor: str) -> str:
        start = {"metadata": {"visitor": {"id": visitor}, "account": {"id": "acme"}}}
        return str(local.call("POST", f"{base}/sessions", json_body=start).body["sessionId"])

    def send(session_id: str, insert_id: str) -> None:
        event = {"type": "tap", "timestamp": int(time.time() * 1000), "insertId": insert_id}
        reply = local.call("POST", f"{base}/events", json_body={"sessionId": session_id, "events": [event]})
        assert reply.status == 200 and reply.body["accepted"] == 1, reply.body

    send(session("quiet"), "quiet-1")
    busy = session("busy")
    with ThreadPoolExecutor(max_workers=4) as pool:  # four clients: the same receipts, a quarter of the wait
        list(pool.map(lambda n: send(busy, f"busy-{n}"), range(240)))

    reply = local.call("GET", f"{base}/raw-events", token=token, params={"visitorId": "quiet", "limit": 1})
    assert reply.status == 200 and [e["insertId"] for e in reply.body["events"]] == ["quiet-1"], reply.body
    shown = countersign("raw-events", *where, "--visitor", "quiet", "--limit", "1", "--json", token=token)
    assert [e["insertId"] for e in json.loads(shown.stdout)["events"]] == ["quiet-1"], shown.stderr


def test_user_mistakes_are_one_line(local: LocalApi, app: dict[str, str], tmp_path: Any) -> None:
    token = app["adminToken"]
    for args, says in [
        (("keys", "list"), "choose a target"),
        (("keys", "list", "--api", local.url), "--app"),
        (("keys", "list", "--local", "--state-dir", str(tmp_path)), "not found"),
        (("keys", "list", "--api", "http://127.0.0.1:9", "--app", app["appId"]), "cannot reach"),
        (("settings", "set", "--local", "--state-dir", str(local.state_dir)), "at least one"),
        (("keys", "list", "--api", local.url, "--app", app["appId"], "--token", token), "unrecognized"),
        (("keys", "reveal", "key_nothere", "--api", local.url, "--app", app["appId"]), "key_not_found"),
    ]:
        result = countersign(*args, token=None if "--token" in args else token)
        assert says in one_line_error(result), (args, result.stderr)
    missing_token = countersign("keys", "list", "--api", local.url, "--app", app["appId"])
    assert "set COUNTERSIGN_ADMIN_TOKEN" in one_line_error(missing_token)
    wrong = countersign("keys", "list", "--api", local.url, "--app", app["appId"], token="csa_wrong")
    assert "unauthorized" in one_line_error(wrong)
