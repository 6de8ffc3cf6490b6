"""A customer page on another origin imports the SDK from the API and sends data (SPEC 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page

from tests.browser.conftest import CustomerSite, sdk_page
from tests.support.local import LocalApi

SDK = Path(__file__).resolve().parents[2] / "functions" / "web" / "static" / "sdk" / "countersign.js"


def open_shop(context: BrowserContext, site: CustomerSite, local: LocalApi, path: str = "/shop") -> Page:
    site.pages[path] = sdk_page(local.url)
    page = context.new_page()
    page.goto(site.url + path)
    page.wait_for_function("window.Countersign !== undefined", timeout=15_000)
    return page


def test_a_page_on_another_origin_imports_the_module_and_sends_events(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi, screenshots: Path
) -> None:
    app = local.create_app()
    responses: list[Any] = []
    context.on("response", lambda r: responses.append(r) if "/sdk/" in r.url else None)
    page = open_shop(context, customer_site, local)
    assert page.url.startswith(customer_site.url) and not local.url.startswith(customer_site.url)

    module = next(r for r in responses if r.url == f"{local.url}/sdk/countersign.js")
    assert module.status == 200
    assert module.header_value("content-type") == "text/javascript; charset=utf-8"
    assert module.header_value("access-control-allow-origin") == "*"
    assert module.text() == SDK.read_text()

    session = page.evaluate(
        """async ({apiUrl, appId}) => {
            const session = await Countersign.initialize({apiUrl, appId, metadata: {visitor: {id: "v-shop"}}});
            Countersign.track("click", "buy", {sku: 1});
            Countersign.track("click", "buy", {sku: 1});
            return session;
        }""",
        {"apiUrl": local.url, "appId": app["appId"]},
    )
    assert session["visitorId"] == "v-shop" and session["signed"] is None
    status = page.evaluate("Countersign.flush()")
    assert status["queued"] == 0, status
    page.screenshot(path=str(screenshots / "shop.png"))

    events = local.call("GET", f"/v1/apps/{app['appId']}/raw-events", token=app["adminToken"]).body["events"]
    assert len(events) == 2, events
    assert {e["insertId"] for e in events} and len({e["insertId"] for e in events}) == 2
    assert all(e["name"] == "buy" and e["properties"] == {"sku": 1} for e in events)
