"""A customer page on another origin imports the SDK from the API and sends data (SPEC 8)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext

from tests.browser.conftest import CustomerSite
from tests.browser.shop import open_shop
from tests.support.local import LocalApi
from tests.support.tokens import hs256_credentials

SDK = Path(__file__).resolve().parents[2] / "functions" / "web" / "static" / "sdk" / "countersign.js"


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


def readme_snippet() -> str:
    """The HTML block docs/sdk-web.md tells customers to paste (the module the API serves)."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "sdk-web.md").read_text()
    found = re.search(r"<!-- snippet: web-sdk -->\s*```html\n(.*?)```", guide, re.DOTALL)
    assert found, "docs/sdk-web.md has no web-sdk snippet"
    return found.group(1)


def test_the_readme_snippet_sends_signed_data(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi, screenshots: Path
) -> None:
    app = local.create_app()
    call = local.call
    assert (
        call(
            "PATCH", f"/v1/apps/{app['appId']}/settings", json_body={"useSignedMetadata": True}, token=app["adminToken"]
        ).status
        == 200
    )
    key = call("POST", f"/v1/apps/{app['appId']}/keys", json_body={"description": "shop"}, token=app["adminToken"]).body
    secret = call("POST", f"/v1/apps/{app['appId']}/keys/{key['keyName']}/reveal", token=app["adminToken"]).body[
        "secret"
    ]
    # The customer's server route that hands the page its token.
    claims = {"nonce": "n-readme", "visitor": {"id": "v-readme"}, "account": {"id": "acme"}}
    customer_site.json["/countersign-token"] = hs256_credentials(claims, secret, key["keyName"])
    snippet = (
        readme_snippet()
        .replace("https://API_ID.execute-api.REGION.amazonaws.com/api", local.url)
        .replace("app_0123456789abcdef", app["appId"])
    )
    assert local.url in snippet and app["appId"] in snippet
    customer_site.pages["/pricing"] = f"<!doctype html><title>Pricing</title><h1>Pricing</h1>{snippet}"
    page = context.new_page()
    page.goto(customer_site.url + "/pricing")

    deadline = time.monotonic() + 20
    events: list[dict[str, Any]] = []
    while not events and time.monotonic() < deadline:
        time.sleep(0.3)
        events = local.call("GET", f"/v1/apps/{app['appId']}/raw-events", token=app["adminToken"]).body["events"]
    page.screenshot(path=str(screenshots / "pricing.png"))
    assert len(events) == 1, events
    event = events[0]
    assert (event["type"], event["name"], event["properties"]) == ("page_view", "Pricing", {"path": "/pricing"})
    assert event["visitorId"] == "v-readme" and event["verification"]["mode"] == "hs256"
