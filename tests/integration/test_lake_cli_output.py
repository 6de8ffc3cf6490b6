"""`countersign lake events|sessions|sql` print API-supplied text as inert text (issue 21, defects 3
and 6): no terminal control character reaches the operator's terminal raw, and every printed
record is one line however many Unicode line breaks it holds."""

from __future__ import annotations

import json
import time
import unicodedata

from countersign_dev.lake import LakeTarget, read_lines
from tests.integration.test_tables_local import rows_when
from tests.support.local import LocalApi

#: An OSC title change ended by BEL, a C1 CSI, a right-to-left override, and every line break
#: Python's str.splitlines() ends a line at.
HOSTILE_TYPE = "\u001b]0;owned\u0007x"
HOSTILE_NAME = "red\u009b31m \u202eevil " + "".join(
    ["\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
)


def _raw_controls(text: str) -> list[str]:
    """Characters a terminal acts on (Unicode category C: controls, format, surrogates) and line
    breaks other than the newline between printed lines."""
    acted_on = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
    return [f"U+{ord(ch):04X}" for ch in text if ch != "\n" and unicodedata.category(ch) in acted_on]


def test_lake_commands_escape_control_characters_and_keep_one_record_a_line(local: LocalApi) -> None:
    app = local.create_app("hostile lake")
    base = f"/v1/apps/{app['appId']}"
    start = {"metadata": {"visitor": {"id": "v\u2028\u001b[2J"}, "account": {"id": "acme"}}}
    session = local.call("POST", f"{base}/sessions", json_body=start)
    assert session.status == 201, session.body
    events = [{"type": HOSTILE_TYPE, "name": HOSTILE_NAME, "timestamp": int(time.time() * 1000), "properties": {}}]
    sent = local.call("POST", f"{base}/events", json_body={"sessionId": session.body["sessionId"], "events": events})
    assert sent.status == 200 and sent.body["accepted"] == 1, sent.body

    lake = LakeTarget(local.aws_client("s3"), local.state["exportBucket"])
    deadline = time.monotonic() + 10  # SPEC 6: in the local lake within 10 s
    while not (lines := read_lines(lake, "events", app=app["appId"], dt=None)):
        assert time.monotonic() < deadline, "the event did not reach the lake"
        time.sleep(0.2)
    assert (lines[0]["type"], lines[0]["name"]) == (HOSTILE_TYPE, HOSTILE_NAME)

    where = ["--local", "--state-dir", str(local.state_dir), "--app", app["appId"]]
    printed = local.cli("lake", "events", *where).stdout
    assert _raw_controls(printed) == []
    assert [json.loads(line) for line in printed.splitlines()] == lines  # one record, one line, exact
    sessions = local.cli("lake", "sessions", *where).stdout
    assert _raw_controls(sessions) == []
    assert [json.loads(line)["visitorId"] for line in sessions.splitlines()] == ["v\u2028\u001b[2J"]

    rows_when(local, app, "events", 1)  # `lake sql` queries the tables (SPEC 6.2): folded within 30 s
    table = local.cli("lake", "sql", "SELECT type, name FROM events", *where).stdout
    assert _raw_controls(table) == []
    assert "\\x1b]0;owned\\x07x" in table
    rows = local.cli("lake", "sql", "SELECT type, name FROM events", "--json", *where).stdout
    assert json.loads(rows) == [{"type": HOSTILE_TYPE, "name": HOSTILE_NAME}]
