"""Rollout insight over HTTP (SPEC 3.5): mixed HS256, RS256 and unsigned traffic, counted exactly.

One local stack with the local-development JWKS override (as tests/integration/test_jwks_api.py),
a JWK Set of two RS256 keys served over real HTTPS on 127.0.0.1, and one application that accepts
both signing modes. The traffic below is sent once; every assertion reads the answers it must
produce: coverage by mode, per key and per kid, wouldDrop, the keys' lastUsedAt, the settings
dry-run, and what a real enforcement then does.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.local import (
    CACHE_BOUND_SECONDS,
    COUNTERSIGN,
    REPO_ROOT,
    LocalApi,
    Reply,
    error_shape_problem,
    running_local_stack,
)
from tests.support.tls import HttpsServer, make_test_pki, serve_https
from tests.support.tls import Reply as HttpsReply
from tests.support.tokens import hs256_credentials, hs256_token, rs256_token, with_nonce

CONFIRM = {"confirmation": "I understand"}
KIDS = ("kid-2026-a", "kid-2026-b")


@dataclass
class Traffic:
    api: LocalApi
    app: dict[str, str]
    keys: dict[str, str]  # role -> keyName: "a" and "b" signed, "idle" never used
    started: datetime
    finished: datetime
    other_app: dict[str, str]

    def admin(self, method: str, suffix: str, body: Any = None, **kw: Any) -> Reply:
        return self.api.call(
            method, f"/v1/apps/{self.app['appId']}{suffix}", json_body=body, token=self.app["adminToken"], **kw
        )

    def sdk(self, method: str, suffix: str, body: Any) -> Reply:
        return self.api.call(method, f"/v1/apps/{self.app['appId']}{suffix}", json_body=body)

    def minutes(self) -> set[str]:
        """Every lastUsedAt the traffic can have written (it may straddle a minute)."""
        start = int(self.started.timestamp()) // 60
        return {
            datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for minute in range(start, int(self.finished.timestamp()) // 60 + 1)
        }

    def key_uses(self, role: str) -> set[str]:
        """Every lastUsedAt the traffic can have written for a key: a minute, or the key's
        createdAt when it was used in the minute it was created (never a use before it existed)."""
        created = {k["keyName"]: k["createdAt"] for k in self.admin("GET", "/keys").body["activeKeys"]}
        return {max(minute, created[self.keys[role]]) for minute in self.minutes()}


def cli(*args: str) -> None:
    result = subprocess.run(
        [str(COUNTERSIGN), *args], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False
    )
    assert result.returncode == 0, result.stderr


def events(count: int, prefix: str) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    return [{"type": "view", "timestamp": now, "insertId": f"{prefix}-{i}"} for i in range(count)]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    workdir = tmp_path_factory.mktemp("coverage")
    pki = make_test_pki(workdir / "tls")
    jwks_file, private = workdir / "jwks.json", {kid: workdir / f"{kid}.pem" for kid in KIDS}
    for kid in KIDS:
        cli("keygen", "--kid", kid, "--private-key", str(private[kid]), "--jwks", str(jwks_file))

    def answer(path: str) -> HttpsReply:
        return HttpsReply(body=jwks_file.read_bytes(), headers={"Content-Type": "application/json"})

    with (
        serve_https(pki, answer) as jwks_server,
        running_local_stack(
            workdir / "state", "--allow-private-jwks-hosts", "--jwks-ca-bundle", str(pki.ca_cert)
        ) as api,
    ):
        yield send_traffic(api, jwks_server, {kid: Path(path).read_text() for kid, path in private.items()})


def send_traffic(api: LocalApi, jwks_server: HttpsServer, private: dict[str, str]) -> Traffic:
    app, other_app = api.create_app("coverage"), api.create_app("coverage neighbour")
    run = Traffic(api, app, {}, datetime.now(UTC), datetime.now(UTC), other_app)
    assert run.admin("PATCH", "/settings", {"useSignedMetadata": True, "useRs256SignedMetadata": True}).status == 200
    uri = jwks_server.url("/jwks.json")
    assert run.admin("POST", "/jwks-uri/test", {"uri": uri}).status == 200
    assert run.admin("PUT", "/jwks-uri", {"uri": uri}).status == 200
    secrets = {}
    for role in ("a", "b", "idle"):
        key = run.admin("POST", "/keys", {"description": f"server {role}"}).body
        run.keys[role] = key["keyName"]
        secrets[role] = run.admin("POST", f"/keys/{key['keyName']}/reveal").body["secret"]

    def hs256(role: str, visitor: str, **claims: Any) -> dict[str, Any]:
        return hs256_credentials(with_nonce({"visitor": {"id": visitor}, **claims}), secrets[role], run.keys[role])

    def rs256(kid: str, visitor: str, **claims: Any) -> dict[str, Any]:
        body = with_nonce({"visitor": {"id": visitor}, "account": {"id": "acme"}, **claims})
        return {"jwt": rs256_token(body, private[kid].encode(), kid=kid)}

    def session(body: dict[str, Any], status: int = 201) -> str:
        reply = run.sdk("POST", "/sessions", body)
        assert reply.status == status, reply.body
        return str(reply.body["sessionId"]) if status == 201 else ""

    def send(session_id: str, batch: list[dict[str, Any]], accepted: int) -> None:
        reply = run.sdk("POST", "/events", {"sessionId": session_id, "events": batch})
        assert reply.status == 200 and reply.body["accepted"] == accepted, reply.body

    run.started = datetime.now(UTC)
    # HS256 key a: 3 sessions, 6 new events (a re-sent batch and a rejected event are not counted).
    a1, a2, _ = (session(hs256("a", f"va-{i}")) for i in range(3))
    send(a1, events(4, "a1"), 4)
    send(a1, events(4, "a1"), 0)
    send(a2, [*events(2, "a2"), {"type": "", "timestamp": 1}], 2)
    # HS256 key b: 1 session, no events, one signed metadata update.
    b1 = session(hs256("b", "vb-1"))
    update = run.sdk("PATCH", f"/sessions/{b1}", hs256("b", "vb-1", plan="pro"))
    assert update.status == 200, update.body
    # RS256: kid a 2 sessions and 5 events, kid b 1 session and 1 event.
    k1, _ = (session(rs256(KIDS[0], f"vr-{i}")) for i in range(2))
    send(k1, events(5, "k1"), 5)
    send(session(rs256(KIDS[1], "vr-9")), events(1, "k2"), 1)
    # Unsigned: 2 sessions and 7 events.
    u1, u2 = (session({"metadata": {"visitor": {"id": f"vu-{i}"}}}) for i in range(2))
    send(u1, events(3, "u1"), 3)
    send(u2, events(4, "u2"), 4)
    # Drops are not traffic that arrived: a bad signature and an unknown kid count nowhere here.
    forged = hs256("a", "vx")
    forged["jwt"] = hs256_token(with_nonce({"visitor": {"id": "vx"}}), "css_not-the-secret-" * 3)
    session(forged, status=401)
    unknown = {"nonce": "n", "visitor": {"id": "vx"}, "account": {"id": "acme"}}
    session({"jwt": rs256_token(unknown, private[KIDS[0]].encode(), kid="gone")}, status=401)
    run.finished = datetime.now(UTC)
    return run


EXPECTED_SESSIONS = {"hs256": 4, "rs256": 3, "unsigned": 2}
EXPECTED_EVENTS = {"hs256": 6, "rs256": 6, "unsigned": 7}


def test_coverage_counts_every_mode_key_and_kid_exactly(traffic: Traffic) -> None:
    for query in ({}, {"hours": "1"}, {"hours": "24"}, {"hours": "720"}):
        reply = traffic.admin("GET", "/coverage", params=query)
        assert reply.status == 200, reply.body
        body = reply.body
        assert body["hours"] == int(query.get("hours", 24))
        assert body["sessions"] == EXPECTED_SESSIONS and body["events"] == EXPECTED_EVENTS
        assert body["wouldDrop"] == {"sessions": 2, "events": 7}
        keys = {row["keyName"]: row for row in body["keys"]}
        a, b, idle = (traffic.keys[role] for role in ("a", "b", "idle"))
        assert set(keys) == {a, b, idle}
        assert (keys[a]["sessions"], keys[a]["events"]) == (3, 6)
        assert (keys[b]["sessions"], keys[b]["events"]) == (1, 0)
        assert (keys[idle]["sessions"], keys[idle]["events"], keys[idle]["lastUsedAt"]) == (0, 0, None)
        assert keys[a]["lastUsedAt"] in traffic.key_uses("a") and keys[b]["lastUsedAt"] in traffic.key_uses("b")
        assert [(row["kid"], row["sessions"], row["events"]) for row in body["kids"]] == [
            (KIDS[0], 2, 5),
            (KIDS[1], 1, 1),
        ]
        assert all(row["lastUsedAt"] in traffic.minutes() for row in body["kids"])
        assert set(body) == {"hours", "from", "to", "sessions", "events", "keys", "kids", "wouldDrop", "hourly"}
        # The hourly trend (the console draws it): every hour of the window, adding up to the totals.
        assert len(body["hourly"]) == body["hours"] + 1 and body["hourly"][0]["hour"] == body["from"]
        for counted, expected in (("sessions", EXPECTED_SESSIONS), ("events", EXPECTED_EVENTS)):
            signed = sum(hour[counted]["signed"] for hour in body["hourly"])
            unsigned = sum(hour[counted]["unsigned"] for hour in body["hourly"])
            assert (signed, unsigned) == (expected["hs256"] + expected["rs256"], expected["unsigned"])
        start = datetime.strptime(body["from"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        end = datetime.strptime(body["to"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert start.minute == start.second == 0 and 3600 * body["hours"] <= (end - start).total_seconds()
        assert (end - start).total_seconds() < 3600 * (body["hours"] + 1)
    # The accepted events of diagnostics are the same count, from the same write.
    diagnostics = traffic.admin("GET", "/diagnostics").body["counts"]
    assert diagnostics["accepted"] == sum(EXPECTED_EVENTS.values()) and diagnostics["duplicates"] == 4
    assert diagnostics["dropped"] == {"invalid_signature": 1, "unknown_kid": 1}


def test_keys_carry_their_last_use(traffic: Traffic) -> None:
    listed = traffic.admin("GET", "/keys").body
    by_name = {key["keyName"]: key for key in listed["activeKeys"]}
    assert by_name[traffic.keys["a"]]["lastUsedAt"] in traffic.key_uses("a")
    assert by_name[traffic.keys["b"]]["lastUsedAt"] in traffic.key_uses("b")
    for key in listed["activeKeys"]:
        assert key["lastUsedAt"] is None or key["lastUsedAt"] >= key["createdAt"], key
    assert by_name[traffic.keys["idle"]]["lastUsedAt"] is None


@pytest.mark.parametrize("hours", ["0", "721", "-1", "1.5", "abc", "", "%C2%B2"])
def test_a_bad_hours_is_400(traffic: Traffic, hours: str) -> None:
    url = f"/v1/apps/{traffic.app['appId']}/coverage?hours={hours}"
    reply = traffic.api.call("GET", url, token=traffic.app["adminToken"])
    assert (reply.status, reply.error_code) == (400, "invalid_request")
    assert error_shape_problem(400, reply.body) is None


def test_coverage_is_an_admin_route_of_one_application(traffic: Traffic) -> None:
    path = f"/v1/apps/{traffic.app['appId']}/coverage"
    assert traffic.api.call("GET", path).status == 401
    assert traffic.api.call("GET", path, token="csa_" + "x" * 43).status == 401
    assert traffic.api.call("GET", path, token=traffic.other_app["adminToken"]).status == 403
    assert traffic.api.call("POST", path, token=traffic.app["adminToken"]).status == 405
    neighbour = traffic.api.call(
        "GET", f"/v1/apps/{traffic.other_app['appId']}/coverage", token=traffic.other_app["adminToken"]
    ).body
    assert neighbour["sessions"] == {"hs256": 0, "rs256": 0, "unsigned": 0} and neighbour["keys"] == []


def test_dry_runs_validate_like_real_changes_and_write_nothing(traffic: Traffic) -> None:
    before = traffic.admin("GET", "/settings").body
    enforce = {"onlyAllowSignedMetadata": True, "dryRun": True}
    reply = traffic.admin("PATCH", "/settings", enforce)
    assert (reply.status, reply.error_code) == (400, "confirmation_required")
    reply = traffic.admin("PATCH", "/settings", {**enforce, **CONFIRM, "version": before["version"] + 5})
    assert (reply.status, reply.error_code) == (409, "settings_conflict")
    reply = traffic.admin("PATCH", "/settings", {"useSignedMetadata": True, "dryRun": "yes"})
    assert (reply.status, reply.error_code) == (400, "invalid_request")

    reply = traffic.admin("PATCH", "/settings", {**enforce, **CONFIRM})
    assert reply.status == 200, reply.body
    assert reply.body == {
        "dryRun": True,
        "settings": {**before, "onlyAllowSignedMetadata": True, "version": before["version"] + 1}
        | {"updatedAt": reply.body["settings"]["updatedAt"]},
        "impact": {"hours": 24, "wouldDrop": {"sessions": 2, "events": 7}},
    }
    reply = traffic.admin("PATCH", "/settings", {"useRs256SignedMetadata": False, "dryRun": True, **CONFIRM})
    assert reply.body["impact"]["wouldDrop"] == {"sessions": 3, "events": 6}
    assert reply.body["settings"]["jwksUri"] is None
    reply = traffic.admin("PATCH", "/settings", {"useSignedMetadata": False, "dryRun": True})
    assert (reply.status, reply.error_code) == (400, "confirmation_required")  # it would drop HS256 traffic
    reply = traffic.admin("PATCH", "/settings", {"useSignedMetadata": False, "dryRun": True, **CONFIRM})
    assert reply.body["impact"]["wouldDrop"] == {"sessions": 4, "events": 6}
    assert traffic.admin("GET", "/settings").body == before  # nothing was written


def test_enforcing_then_drops_what_the_dry_run_said(traffic: Traffic) -> None:
    """Last: it changes the application's settings."""
    reply = traffic.admin("PATCH", "/settings", {"onlyAllowSignedMetadata": True, **CONFIRM})
    assert reply.status == 200 and reply.body["onlyAllowSignedMetadata"] is True
    # Every warm container sees the new settings within the cache bound; an unsigned session sent
    # earlier could still be accepted (and counted), so this waits the bound out first.
    time.sleep(CACHE_BOUND_SECONDS)
    unsigned = {"metadata": {"visitor": {"id": "late"}}}
    reply = traffic.api.call("POST", f"/v1/apps/{traffic.app['appId']}/sessions", json_body=unsigned)
    assert reply.error_code == "unsigned_metadata_rejected"
    coverage = traffic.admin("GET", "/coverage").body
    assert coverage["sessions"] == EXPECTED_SESSIONS and coverage["wouldDrop"] == {"sessions": 2, "events": 7}
