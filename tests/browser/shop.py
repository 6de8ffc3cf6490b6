"""A customer's shop page driving the SDK, and what the API stored, read over HTTP as an admin would."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import BrowserContext, Page

from tests.browser.conftest import CustomerSite, sdk_page
from tests.support.local import LocalApi


def open_shop(context: BrowserContext, site: CustomerSite, api: LocalApi, path: str = "/shop") -> Page:
    """A page of the customer's origin that has imported the SDK from the API."""
    site.pages[path] = sdk_page(api.url)
    page = context.new_page()
    page.goto(site.url + path)
    page.wait_for_function("window.Countersign !== undefined", timeout=15_000)
    return page


def initialize(page: Page, api: LocalApi, app_id: str, **options: Any) -> dict[str, Any]:
    """Countersign.initialize with the page's callbacks collecting rejections and errors."""
    session: dict[str, Any] = page.evaluate(
        """async (options) => Countersign.initialize({
            ...options,
            onRejected: (rejection) => window.rejections.push(rejection),
            onError: (error) => window.errors.push({code: error.code, message: error.message}),
        })""",
        {"apiUrl": api.url, "appId": app_id, **options},
    )
    return session


def new_shop(
    context: BrowserContext, site: CustomerSite, api: LocalApi, visitor_id: str, **options: Any
) -> tuple[dict[str, str], Page]:
    """A new application, and a shop page whose SDK has started an unsigned session for `visitor_id`."""
    app = api.create_app()
    page = open_shop(context, site, api)
    initialize(page, api, app["appId"], metadata={"visitor": {"id": visitor_id}}, **options)
    return app, page


def track(page: Page, count: int, type_: str = "click", *, flush_each: bool = False) -> list[str]:
    """Track `count` events (each with its number); returns their insertIds."""
    ids: list[str] = page.evaluate(
        """async ({count, type, flushEach}) => {
            const ids = [];
            for (let i = 0; i < count; i++) {
                ids.push(Countersign.track(type, "item", {n: i}));
                if (flushEach) await Countersign.flush();
            }
            return ids;
        }""",
        {"count": count, "type": type_, "flushEach": flush_each},
    )
    return ids


def wait_until_sent(page: Page, timeout_ms: int = 60_000) -> None:
    """Until this app's queue in the page's storage is empty (every event answered for)."""
    page.wait_for_function("Countersign.status().queued === 0", timeout=timeout_ms, polling=200)


def stored_events(api: LocalApi, app: dict[str, str]) -> list[dict[str, Any]]:
    reply = api.call("GET", f"/v1/apps/{app['appId']}/raw-events", token=app["adminToken"], params={"limit": 100})
    assert reply.status == 200, reply.body
    events: list[dict[str, Any]] = reply.body["events"]
    return events


def counts(api: LocalApi, app: dict[str, str]) -> dict[str, Any]:
    reply = api.call("GET", f"/v1/apps/{app['appId']}/diagnostics", token=app["adminToken"])
    assert reply.status == 200, reply.body
    found: dict[str, Any] = reply.body["counts"]
    return found
