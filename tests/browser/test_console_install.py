"""The console's install card (issue 25): the script-tag snippet of docs/sdk-web.md filled with the
signed-in application's id and this API's URL, pinned to the SDK file the API serves with that file's
integrity hash; pasted into a page of another origin, it sends that page's events."""

from __future__ import annotations

import base64
import hashlib
import time

import requests
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import CustomerSite
from tests.browser.console import SCREENSHOTS, Admin, shoot
from tests.browser.shop import stored_events
from tests.support.local import LocalApi


def test_the_install_card_shows_a_filled_snippet_that_works_on_another_origin(
    admin: Admin, customer_site: CustomerSite, local: LocalApi, context: BrowserContext
) -> None:
    admin = admin.signed_in()
    card = admin.page.locator("#install-card")
    expect(card.get_by_role("heading", name="Install the browser SDK")).to_be_visible()
    snippet_box = card.get_by_label("Script tag for this application")
    admin.page.wait_for_function("document.getElementById('install-snippet').value.includes('sha384-')")
    snippet = snippet_box.input_value()
    expect(admin.page.get_by_text("Loading keys…")).to_be_hidden()
    card.scroll_into_view_if_needed()
    shoot(admin.page, "install-card")
    card.screenshot(path=str(SCREENSHOTS / "console-install-card-only.png"))

    served = requests.get(f"{local.url}/sdk/countersign.iife.js", timeout=30)
    pinned = served.headers["Link"][1 : served.headers["Link"].index(">")]
    sri = "sha384-" + base64.b64encode(hashlib.sha384(served.content).digest()).decode()
    assert f'"{local.url}/sdk/{pinned}"' in snippet and f'"{sri}"' in snippet
    assert f'appId: "{admin.app["appId"]}"' in snippet and f'apiUrl: "{local.url}"' in snippet
    assert "{{" not in snippet
    expect(card.locator("#install-app-id")).to_have_text(admin.app["appId"])
    expect(card.locator("#install-api-url")).to_have_text(local.url)
    admin.no_problems()

    customer_site.pages["/from-console"] = (
        f"<!doctype html><html><head><title>From console</title>{snippet}</head><body>Hi</body></html>"
    )
    page = context.new_page()
    page.goto(customer_site.url + "/from-console")
    deadline = time.monotonic() + 20
    events: list[dict[str, object]] = []
    while not events and time.monotonic() < deadline:
        time.sleep(0.3)
        events = stored_events(local, admin.app)
    assert [(e["type"], e["name"]) for e in events] == [("page", "From console")]
