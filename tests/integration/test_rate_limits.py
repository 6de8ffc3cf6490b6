"""Tenancy under load over HTTP (SPEC 4): one application flooding gets 429 with Retry-After in the
SPEC error shape; another application sending at the same moment gets every answer 2xx.

The limits are the template's parameters (read here from template.yaml, not copied) and the
operator's per-application override set with `countersign apps limits`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

from countersign_dev.emulation import template as tpl
from tests.support.local import LocalApi, Reply, error_shape_problem

FLOOD_LIMIT = 3  # the flooding application's override, requests per second
FLOOD_THREADS = 6
BROWSER = {"Origin": "https://shop.example"}


def limits(local: LocalApi, app_id: str, *flags: str) -> dict[str, Any]:
    out = local.cli("apps", "limits", "--app-id", app_id, *flags, "--local", "--state-dir", str(local.state_dir))
    return dict(json.loads(out.stdout)["limits"])


def start_session(local: LocalApi, app_id: str, visitor: str) -> str:
    reply = local.call("POST", f"/v1/apps/{app_id}/sessions", json_body={"metadata": {"visitor": {"id": visitor}}})
    assert reply.status == 201, reply.body
    return str(reply.body["sessionId"])


def send_one(local: LocalApi, app_id: str, session_id: str, tag: str) -> tuple[float, Reply, float]:
    event = {"type": "click", "timestamp": int(time.time() * 1000), "insertId": tag}
    body = {"sessionId": session_id, "events": [event]}
    # A browser SDK's request: cross-origin, so it can read the answer only with the CORS header.
    sent = time.time()
    reply = local.call("POST", f"/v1/apps/{app_id}/events", json_body=body, headers=BROWSER, retry_rate_limited=False)
    return sent, reply, time.time()


def test_the_defaults_are_the_template_parameters_and_an_override_replaces_them(local: LocalApi) -> None:
    defaults = tpl.parameter_defaults(tpl.load_template())
    app_id = local.create_app()["appId"]
    shown = limits(local, app_id)
    assert shown["sdk"] == {
        "requestsPerSecond": int(defaults["AppSdkRequestsPerSecond"]),
        "from": "stack parameter AppSdkRequestsPerSecond",
    }
    assert shown["admin"]["requestsPerSecond"] == int(defaults["AppAdminRequestsPerSecond"])
    assert limits(local, app_id, "--sdk", "7")["sdk"] == {"requestsPerSecond": 7, "from": "override"}
    restored = limits(local, app_id, "--sdk", "default")["sdk"]
    assert restored["requestsPerSecond"] == int(defaults["AppSdkRequestsPerSecond"])
    wrong = local.cli("apps", "limits", "--app-id", app_id, "--sdk", "0", "--local", check=False)
    assert wrong.returncode != 0 and wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.stderr


def test_one_application_flooding_gets_429s_and_another_at_the_same_moment_gets_2xx(local: LocalApi) -> None:
    flooding_app = local.create_app("Flooder")
    flooder, neighbour = flooding_app["appId"], local.create_app("Neighbour")["appId"]
    limits(local, flooder, "--sdk", str(FLOOD_LIMIT))  # before its first request: no cached limit yet
    flood_session, calm_session = start_session(local, flooder, "f"), start_session(local, neighbour, "n")
    time.sleep(1.1)  # a fresh second: the session start counted in the last one

    flood: list[tuple[float, Reply, float]] = []
    calm: list[Reply] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 2.5

    def flooding(worker: int) -> None:
        sent = 0
        while time.monotonic() < stop_at:
            answer = send_one(local, flooder, flood_session, f"f-{worker}-{sent}")
            sent += 1
            with lock:
                flood.append(answer)

    def neighbouring() -> None:
        for sent in range(20):
            reply = send_one(local, neighbour, calm_session, f"n-{sent}")[1]
            with lock:
                calm.append(reply)
            time.sleep(0.1)

    threads = [threading.Thread(target=flooding, args=(i,)) for i in range(FLOOD_THREADS)]
    threads.append(threading.Thread(target=neighbouring))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [reply.status for reply in calm] == [200] * 20, [(r.status, r.body) for r in calm if r.status != 200]
    statuses = Counter(reply.status for _, reply, _ in flood)
    assert set(statuses) == {200, 429}, statuses
    assert statuses[429] > statuses[200]
    for _, reply, _ in flood:
        if reply.status == 429:
            assert error_shape_problem(429, reply.body) is None and reply.error_code == "rate_limited"
            assert reply.headers["Retry-After"] == "1"
            assert reply.headers["Access-Control-Allow-Origin"] == "*"
    # Per second of the stack's clock, at most the limit plus the requests in flight when the door
    # closed; a request is counted in the second its write happens, between sending and answer.
    seconds = int(max(answered for _, _, answered in flood)) - int(min(sent for sent, _, _ in flood)) + 1
    assert statuses[200] <= (FLOOD_LIMIT + FLOOD_THREADS) * seconds, (statuses, seconds)
    # Nothing lost: what was answered 200 is what the diagnostics count.
    accepted = sum(reply.body["accepted"] for _, reply, _ in flood if reply.status == 200)
    diagnostics = local.call("GET", f"/v1/apps/{flooder}/diagnostics", token=flooding_app["adminToken"])
    assert diagnostics.body["counts"]["accepted"] == accepted == statuses[200]


def test_the_admin_routes_have_their_own_limit_per_application(local: LocalApi) -> None:
    limited_app, other = local.create_app("Busy admin"), local.create_app("Calm admin")
    limits(local, limited_app["appId"], "--admin", "2")

    def settings(app: dict[str, str], token: str) -> int:
        path = f"/v1/apps/{app['appId']}/settings"
        return local.call("GET", path, token=token, retry_rate_limited=False).status

    time.sleep(1.0 - time.time() % 1.0 + 0.05)  # start at the beginning of a second
    busy = [settings(limited_app, limited_app["adminToken"]) for _ in range(6)]
    calm = [settings(other, other["adminToken"]) for _ in range(6)]
    assert busy[:2] == [200, 200] and 429 in busy, busy
    assert calm == [200] * 6
    # Unauthenticated requests are refused before they count: they cannot use up the app's budget.
    time.sleep(1.1)
    for _ in range(5):
        assert settings(limited_app, "cs_admin_wrong") == 401
    assert settings(limited_app, limited_app["adminToken"]) == 200
