"""Issue 21 in Chromium against the local stack: one bad event does not lose its batch, a full
localStorage does not stop the page, and a client clock 7 days slow does not lose its events."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import BrowserContext

from tests.browser.conftest import CustomerSite
from tests.browser.shop import initialize, new_shop, open_shop, stored_events, wait_until_sent
from tests.support.local import LocalApi

DAY_MS = 86_400_000


def test_a_lone_surrogate_and_a_too_deep_event_do_not_lose_the_batch(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app, page = new_shop(context, customer_site, local, "v-hostile")
    ids = page.evaluate(
        """() => {
            let deep = {leaf: 1};
            for (let i = 0; i < 30; i++) deep = {deep};
            return [
                Countersign.track("t", "good-1"),
                Countersign.track("t", "x", {t: "😀 hi".slice(0, 1)}),
                Countersign.track("t", "deep", deep),
                Countersign.track("t", "good-2"),
            ];
        }"""
    )
    wait_until_sent(page)
    stored = {e["insertId"]: e for e in stored_events(local, app)}
    assert set(stored) == {ids[0], ids[1], ids[3]}
    assert stored[ids[1]]["properties"] == {"t": "\ufffd"}
    rejections: list[dict[str, Any]] = page.evaluate("window.rejections.map((r) => [r.code, r.event.insertId])")
    assert rejections == [["invalid_event", ids[2]]]


def test_localstorage_nearly_full_initialize_does_not_throw_and_events_arrive(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app = local.create_app()
    page = open_shop(context, customer_site, local)
    free = page.evaluate(
        """() => {
            // Fill the origin's storage, then free 43 characters (issue 21: the SDK's probe still
            // fits, its session record does not).
            localStorage.setItem("r", "x".repeat(42));
            let chunk = "x".repeat(1 << 20), n = 0;
            while (chunk.length >= 1) {
                try {
                    localStorage.setItem("filler-" + n++, chunk);
                } catch {
                    chunk = chunk.slice(0, chunk.length >> 1);
                }
            }
            localStorage.removeItem("r");
            let room = 0;
            for (let size = 1; size < 128; size++) {
                try { localStorage.setItem("f", "x".repeat(size)); room = size + 1; } catch { break; }
            }
            localStorage.removeItem("f");
            return room;
        }"""
    )
    assert 43 <= free < 64, free
    session = initialize(page, local, app["appId"], metadata={"visitor": {"id": "v-full"}})
    assert session["visitorId"] == "v-full"
    insert_id = page.evaluate("Countersign.track('t', 'in-memory')")
    wait_until_sent(page)
    assert [e["insertId"] for e in stored_events(local, app)] == [insert_id]
    assert page.evaluate("window.errors") == []


def test_a_client_clock_seven_days_slow_is_corrected_by_the_apis_date(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    context.add_init_script(f"{{ const real = Date.now; Date.now = () => real() - {7 * DAY_MS}; }}")
    app, page = new_shop(context, customer_site, local, "v-slow-clock")
    assert page.evaluate("Date.now()") < time.time() * 1000 - 6 * DAY_MS  # the page's clock is slow
    insert_id = page.evaluate("Countersign.track('t', 'late-clock')")
    tracked_at = time.time() * 1000
    wait_until_sent(page)
    events = stored_events(local, app)
    assert [e["insertId"] for e in events] == [insert_id], page.evaluate("window.rejections")
    assert abs(events[0]["timestamp"] - tracked_at) < 5_000
