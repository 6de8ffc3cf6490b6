"""The SDK's delivery guarantees in Chromium against the local stack (SPEC 8): signed sessions, a flaky
API, a cut network, a reload, a closed tab, two tabs, rejections. What arrived is read over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from playwright.sync_api import BrowserContext, Response

from tests.browser.conftest import CustomerSite
from tests.browser.shop import counts, initialize, new_shop, open_shop, stored_events, track, wait_until_sent
from tests.support.local import LocalApi
from tests.support.tls import HttpsServer, Reply, TestPki, serve_https
from tests.support.tokens import hs256_token, rs256_token, with_nonce

#: How many events the page's origin holds in localStorage (any application, any tab).
QUEUED_IN_STORAGE = (
    "Object.keys(localStorage).filter((key) => key.startsWith('countersign:') && key.includes(':e:')).length"
)


def admin(api: LocalApi, app: dict[str, str], method: str, suffix: str, body: Any = None) -> Any:
    reply = api.call(method, f"/v1/apps/{app['appId']}{suffix}", json_body=body, token=app["adminToken"])
    assert reply.status in (200, 201), reply.body
    return reply.body


def wait_for_stored(api: LocalApi, app: dict[str, str], count: int, within: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        events = stored_events(api, app)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def test_hs256_session_and_updates_with_the_sessions_own_ids(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app = local.create_app()
    admin(local, app, "PATCH", "/settings", {"useSignedMetadata": True})
    key = admin(local, app, "POST", "/keys", {"description": "web server"})
    secret = admin(local, app, "POST", f"/keys/{key['keyName']}/reveal")["secret"]

    def signed(**claims: Any) -> str:
        return hs256_token(with_nonce(claims), secret)

    page = open_shop(context, customer_site, local)
    visitor = {"id": "v-hs", "email": "ada@example.com"}
    session = initialize(
        page, local, app["appId"], jwt=signed(visitor=visitor, account={"id": "acme"}), signingKeyName=key["keyName"]
    )
    assert (session["signed"], session["visitorId"], session["accountId"]) == ("hs256", "v-hs", "acme")
    updated = page.evaluate(
        "([token, keyName]) => Countersign.setVisitorData(token, keyName)",
        [signed(visitor={"id": "v-hs", "role": "admin"}), key["keyName"]],
    )
    assert updated is not None
    page.evaluate(
        "([token, keyName]) => Countersign.setAccountData(token, keyName)",
        [signed(account={"id": "acme", "plan": "pro"}), key["keyName"]],
    )
    # Another visitor's id is refused: an update cannot move the session to someone else.
    refused = page.evaluate(
        """([token, keyName]) => Countersign.setVisitorData(token, keyName).then(() => null, (e) => e.code)""",
        [signed(visitor={"id": "v-other"}), key["keyName"]],
    )
    assert refused == "identity_mismatch"
    track(page, 3)
    wait_until_sent(page)

    events = stored_events(local, app)
    assert len(events) == 3
    assert all(e["verification"] == {"mode": "hs256", "keyName": key["keyName"]} for e in events)
    assert {e["visitorId"] for e in events} == {"v-hs"} and {e["accountId"] for e in events} == {"acme"}


@pytest.fixture
def jwks(pki: TestPki, tmp_path: Path) -> Iterator[tuple[rsa.RSAPrivateKey, HttpsServer]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    document = {"keys": [{**public, "kid": "web-1", "alg": "RS256", "use": "sig"}]}
    with serve_https(pki, lambda path: Reply.json(document)) as server:
        yield key, server


def test_rs256_session(
    context: BrowserContext,
    customer_site: CustomerSite,
    local: LocalApi,
    jwks: tuple[rsa.RSAPrivateKey, HttpsServer],
) -> None:
    key, server = jwks
    app = local.create_app()
    admin(local, app, "PATCH", "/settings", {"useRs256SignedMetadata": True})
    admin(local, app, "POST", "/jwks-uri/test", {"uri": server.url()})
    admin(local, app, "PUT", "/jwks-uri", {"uri": server.url()})
    token = rs256_token({"nonce": "n-1", "visitor": {"id": "v-rs"}, "account": {"id": "globex"}}, key, kid="web-1")
    page = open_shop(context, customer_site, local)
    session = initialize(page, local, app["appId"], jwt=token)
    assert (session["signed"], session["visitorId"]) == ("rs256", "v-rs")
    track(page, 2)
    wait_until_sent(page)
    events = stored_events(local, app)
    assert [e["verification"] for e in events] == [{"mode": "rs256", "kid": "web-1"}] * 2


def test_a_flaky_api_loses_nothing_and_stores_nothing_twice(
    context: BrowserContext, customer_site: CustomerSite, flaky: LocalApi, screenshots: Path
) -> None:
    app = flaky.create_app()
    answers: list[int] = []
    context.on("response", lambda r: answers.append(r.status) if r.url.endswith("/events") else None)
    page = open_shop(context, customer_site, flaky)
    initialize(page, flaky, app["appId"], metadata={"visitor": {"id": "v-flaky"}}, backoffBaseMs=200)
    ids = track(page, 45, flush_each=True)  # many small requests: every kind of fault happens
    ids += track(page, 35)
    wait_until_sent(page, timeout_ms=90_000)
    page.screenshot(path=str(screenshots / "flaky.png"))

    assert 503 in answers and 429 in answers and 200 in answers, answers
    events = stored_events(flaky, app)
    assert sorted(e["insertId"] for e in events) == sorted(ids), "each event stored exactly once"
    totals = counts(flaky, app)
    assert totals["accepted"] == len(ids) == 80
    # A lost answer made the SDK send again what had been stored: the API said duplicate.
    assert totals["duplicates"] > 0
    assert page.evaluate("window.rejections") == [] and page.evaluate("window.errors") == []


def test_a_cut_network_loses_nothing(context: BrowserContext, customer_site: CustomerSite, local: LocalApi) -> None:
    app, page = new_shop(context, customer_site, local, "v-offline", backoffBaseMs=200)
    context.set_offline(True)
    ids = track(page, 12)
    status = page.evaluate("Countersign.flush()")
    assert status["queued"] == 12 and status["stopped"] is None
    context.set_offline(False)  # the browser's "online" event makes the SDK try again at once
    wait_until_sent(page)
    assert sorted(e["insertId"] for e in stored_events(local, app)) == sorted(ids)


def test_a_reload_mid_queue_delivers_the_rest_exactly_once(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app, page = new_shop(context, customer_site, local, "v-reload")
    ids = track(page, 10)
    wait_until_sent(page)
    page.route("**/events", lambda route: route.abort("connectionreset"))
    ids += track(page, 15)
    assert page.evaluate("Countersign.flush()")["queued"] == 15

    page.reload()  # its page-hide send fails too: the network is still down
    page.wait_for_function("window.Countersign !== undefined")
    queued = page.evaluate(QUEUED_IN_STORAGE)
    assert queued == 15, "the queue outlived the page"
    page.unroute("**/events")
    initialize(page, local, app["appId"], metadata={"visitor": {"id": "v-reload"}})
    wait_until_sent(page)
    events = stored_events(local, app)
    assert sorted(e["insertId"] for e in events) == sorted(ids)
    assert counts(local, app)["accepted"] == 25


def test_a_tab_closed_with_events_queued_sends_them_with_keepalive(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app = local.create_app()
    # A witness of each keepalive request that outlives the page: a beacon to the customer's site.
    context.add_init_script(
        """const send = window.fetch;
        window.fetch = (url, init) => {
            if (init && init.keepalive) navigator.sendBeacon("/keepalive-witness?bytes=" + init.body.length);
            return send(url, init);
        };"""
    )
    page = open_shop(context, customer_site, local)
    # No timer will send them: only the page-hide path can.
    initialize(page, local, app["appId"], metadata={"visitor": {"id": "v-close"}}, flushIntervalMs=600_000)
    # Let the pass that follows the session start finish first: it would send events tracked now.
    page.evaluate("new Promise((resolve) => setTimeout(resolve, 50)).then(() => Countersign.flush())")
    ids = track(page, 6)
    assert page.evaluate("Countersign.status().queued") == 6
    page.close(run_before_unload=True)

    events = wait_for_stored(local, app, 6)
    assert sorted(e["insertId"] for e in events) == sorted(ids)

    # The closed page never read the answer, so the events were still queued: the next page
    # sends them again, the API answers duplicate, and nothing is stored twice.
    later = open_shop(context, customer_site, local, "/shop/again")
    deadline = time.monotonic() + 10  # the beacon and the events travel side by side
    while not any("keepalive-witness" in path for path in customer_site.posts) and time.monotonic() < deadline:
        time.sleep(0.1)
    witnessed = [int(path.split("bytes=")[1]) for path in customer_site.posts if "keepalive-witness" in path]
    assert witnessed and all(0 < size <= 64 * 1024 for size in witnessed), "sent with keepalive, within budget"
    left = later.evaluate(QUEUED_IN_STORAGE)
    assert left in (0, 6), "a batch is acknowledged whole or not at all"
    initialize(later, local, app["appId"], metadata={"visitor": {"id": "v-close"}})
    wait_until_sent(later)
    assert len(stored_events(local, app)) == 6
    assert counts(local, app)["accepted"] == 6 and counts(local, app)["duplicates"] == left


def test_two_tabs_share_one_queue_without_losing_or_doubling(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app = local.create_app()
    tabs = [open_shop(context, customer_site, local, f"/shop/tab{n}") for n in (1, 2)]
    for n, tab in enumerate(tabs):
        initialize(tab, local, app["appId"], metadata={"visitor": {"id": f"v-tab{n}"}})
    ids = [insert for tab in tabs for insert in track(tab, 20)]
    for tab in tabs:
        wait_until_sent(tab)
    events = stored_events(local, app)
    assert sorted(e["insertId"] for e in events) == sorted(ids)
    assert {e["visitorId"] for e in events} == {"v-tab0", "v-tab1"}
    by_visitor = {e["insertId"]: e["visitorId"] for e in events}
    assert all(by_visitor[i] == "v-tab0" for i in ids[:20]), "each tab's events keep their own session"


def test_rejected_events_reach_on_rejected(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi, screenshots: Path
) -> None:
    app, page = new_shop(context, customer_site, local, "v-rejected")
    ids = page.evaluate(
        """() => {
            const ok = Countersign.track("click", "fine");
            const realNow = Date.now;
            Date.now = () => realNow() + 2 * 3600 * 1000;  // a clock two hours fast
            const future = Countersign.track("click", "future");
            Date.now = realNow;
            const huge = Countersign.track("click", "huge", {blob: "x".repeat(40 * 1024)});
            return [ok, future, huge];
        }"""
    )
    wait_until_sent(page)
    rejections = page.evaluate("window.rejections")
    by_id = {r["event"]["insertId"]: r for r in rejections}
    assert set(by_id) == {ids[1], ids[2]}
    assert by_id[ids[1]]["code"] == "event_in_future" and by_id[ids[1]]["index"] == 1
    assert by_id[ids[1]]["message"]
    assert by_id[ids[2]]["code"] == "event_too_large" and by_id[ids[2]]["index"] == -1
    assert [e["insertId"] for e in stored_events(local, app)] == [ids[0]]
    page.screenshot(path=str(screenshots / "rejected.png"))


def test_session_not_found_starts_the_session_again_once(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app, page = new_shop(context, customer_site, local, "v-restart")
    first = page.evaluate("Countersign.status().sessionId")
    # The API forgets this session (as when it expired): its events answer 404 session_not_found.
    seen: list[Response] = []
    page.on("response", lambda r: seen.append(r) if r.url.endswith("/events") else None)

    def forget_session(route: Any) -> None:
        body = route.request.post_data or ""
        if first in body:
            route.fulfill(
                status=404,
                headers={"Access-Control-Allow-Origin": "*", "Content-Type": "application/json"},
                body='{"error": {"code": "session_not_found", "message": "No such session."}}',
            )
        else:
            route.continue_()

    page.route("**/events", forget_session)
    ids = track(page, 4)
    wait_until_sent(page)
    second = page.evaluate("Countersign.status().sessionId")
    assert second and second != first
    events = stored_events(local, app)
    assert sorted(e["insertId"] for e in events) == sorted(ids)
    assert {e["sessionId"] for e in events} == {second} and {e["visitorId"] for e in events} == {"v-restart"}
    assert [r.status for r in seen][:1] == [404]


def test_clear_session_forgets_the_visitor_and_their_queue(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app, page = new_shop(context, customer_site, local, "v-leaving")
    page.route("**/events", lambda route: route.abort("connectionreset"))
    track(page, 5)
    assert page.evaluate(QUEUED_IN_STORAGE) == 5
    page.evaluate("Countersign.clearSession()")  # sign-out: nothing of this visitor is sent later
    assert page.evaluate(QUEUED_IN_STORAGE) == 0
    assert page.evaluate("Countersign.status().sessionId") is None
    page.unroute("**/events")

    initialize(page, local, app["appId"], metadata={"visitor": {"id": "v-next"}})
    ids = track(page, 2)
    wait_until_sent(page)
    events = stored_events(local, app)
    assert sorted(e["insertId"] for e in events) == sorted(ids)
    assert {e["visitorId"] for e in events} == {"v-next"}
