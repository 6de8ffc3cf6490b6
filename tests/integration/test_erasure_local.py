"""Erasure on the local stack (SPEC 9), as an admin does it: `countersign erasures create`, then
the scheduled erasure function completes it within 60 s; the subject is gone from DataTable and the
lake, another application's same visitor is not, and suppression refuses its new data until lifted.
"""

from __future__ import annotations

import json
import time
from typing import Any

from countersign_dev.lake import LakeTarget, read_lines
from tests.integration.test_admin_cli import countersign, one_line_error
from tests.support.local import LocalApi

#: SPEC 9: locally an erasure completes within 60 s of its request.
ERASURE_SECONDS = 60
LAKE_LAG_SECONDS = 10


def _send(local: LocalApi, app: dict[str, str], visitor: str, tag: str) -> str:
    base = f"/v1/apps/{app['appId']}"
    reply = local.call("POST", base + "/sessions", json_body={"metadata": {"visitor": {"id": visitor, "tag": tag}}})
    assert reply.status == 201, reply.body
    session_id = str(reply.body["sessionId"])
    now = int(time.time() * 1000)
    events = [{"type": "track", "name": tag, "timestamp": now + i, "insertId": f"{tag}-{i}"} for i in range(3)]
    reply = local.call("POST", base + "/events", json_body={"sessionId": session_id, "events": events})
    assert reply.status == 200 and reply.body["accepted"] == 3, reply.body
    return session_id


def _lines(lake: LakeTarget, app: dict[str, str]) -> list[dict[str, Any]]:
    return [
        line
        for kind in ("events", "sessions")
        for line in read_lines(lake, kind, app=app["appId"], dt=None)  # type: ignore[arg-type]
    ]


def _until(check: Any, within: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within, f"{what} not within {within} s"
        time.sleep(0.5)
    return time.monotonic() - started


def test_an_erasure_requested_with_the_cli_completes_within_60_s_everywhere_and_suppresses(
    local: LocalApi, app: dict[str, str]
) -> None:
    lake = LakeTarget(local.aws_client("s3"), local.state["exportBucket"])
    other_app = local.create_app("Other app")
    subject, keeper = "erase-me@example.com", "keep-me"
    for target in (app, other_app):
        _send(local, target, subject, "a")
    erased_session = _send(local, app, subject, "b")
    _send(local, app, keeper, "c")
    _until(lambda: len(_lines(lake, app)) == 3 * 4, LAKE_LAG_SECONDS, "the lake lines")
    where, token = ["--api", local.url, "--app", app["appId"]], app["adminToken"]

    refused = countersign("erasures", "create", "--visitor", subject, *where, token=token, answer="someone-else\n")
    assert "not confirmed" in one_line_error(refused)
    created = countersign("erasures", "create", "--visitor", subject, "--suppress", *where, "--json", token=token,
                          answer=subject + "\n")  # fmt: skip
    assert created.returncode == 0, created.stderr
    erasure = json.loads(created.stdout)
    assert erasure["status"] == "pending" and erasure["subject"] == {"kind": "visitor", "id": subject}
    requested = time.monotonic()

    def completed() -> bool:
        shown = countersign("erasures", "show", erasure["erasureId"], *where, "--json", token=token)
        assert shown.returncode == 0, shown.stderr
        return bool(json.loads(shown.stdout)["status"] == "completed")

    _until(completed, ERASURE_SECONDS - (time.monotonic() - requested), "the erasure's completion")
    shown = countersign("erasures", "show", erasure["erasureId"], *where, token=token)
    assert "completed" in shown.stdout and subject not in shown.stdout
    assert "dataTable" in shown.stdout and "landing" in shown.stdout and "tables" in shown.stdout
    done = json.loads(countersign("erasures", "list", *where, "--json", token=token).stdout)["erasures"][0]
    remaining = {name: store["remaining"] for name, store in done["stores"].items()}
    assert remaining == {"dataTable": 0, "landing": 0, "tables": 0}
    assert done["stores"]["landing"]["removed"]["lines"] == 2 * 4  # two sessions' starts and 6 events

    # Gone from the lake and from DataTable (raw events), kept for the other visitor and application.
    assert [line for line in _lines(lake, app) if line["visitorId"] == subject] == []
    assert len([line for line in _lines(lake, app) if line["visitorId"] == keeper]) == 4
    assert len([line for line in _lines(lake, other_app) if line["visitorId"] == subject]) == 4
    raw = local.call("GET", f"/v1/apps/{app['appId']}/raw-events", token=token, params={"visitorId": subject})
    assert raw.status == 200 and raw.body["events"] == []

    # Suppressed: a new session is dropped subject_suppressed (counted), the old one is gone.
    start = {"metadata": {"visitor": {"id": subject}}}
    reply = local.call("POST", f"/v1/apps/{app['appId']}/sessions", json_body=start)
    assert reply.status == 403 and reply.body["error"]["code"] == "subject_suppressed"
    events = {"sessionId": erased_session, "events": [{"type": "x", "timestamp": int(time.time() * 1000)}]}
    gone = local.call("POST", f"/v1/apps/{app['appId']}/events", json_body=events)
    assert gone.status == 404 and gone.body["error"]["code"] == "session_not_found"
    dropped = local.call("GET", f"/v1/apps/{app['appId']}/diagnostics", token=token).body["counts"]["dropped"]
    assert dropped.get("subject_suppressed") == 1
    listed = countersign("suppressions", "list", *where, "--json", token=token)
    assert json.loads(listed.stdout)["suppressions"][0]["erasureId"] == erasure["erasureId"]
    lifted = countersign("suppressions", "lift", "--visitor", subject, *where, token=token)
    assert lifted.returncode == 0 and "Lifted" in lifted.stdout, lifted.stderr
    assert "suppression_not_found" in one_line_error(
        countersign("suppressions", "lift", "--visitor", subject, *where, token=token)
    )
