"""Issue 25 in Chromium against the local stack, from a customer's origin: the SPEC 8 API (track,
page, record, calls before initialize, context, beforeSend, consent), the script-tag snippet of
docs/sdk-web.md with its SRI hash, and a bundler-built app consuming the `npm pack` tarball."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.conftest import CustomerSite
from tests.browser.shop import open_shop, stored_events, wait_until_sent
from tests.support.local import LocalApi

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sdk" / "browser"
DOCS = ROOT / "docs" / "sdk-web.md"
PLACEHOLDER_URL = "https://API_ID.execute-api.REGION.amazonaws.com/api"
PLACEHOLDER_APP = "app_0123456789abcdef"


def wait_for_events(api: LocalApi, app: dict[str, str], count: int, within: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        events = stored_events(api, app)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def sdk_requests(context: BrowserContext, api: LocalApi) -> list[str]:
    """The URLs of every request the pages of `context` make to the API's SDK routes, as they happen."""
    seen: list[str] = []
    context.on("request", lambda r: seen.append(r.url) if r.url.startswith(api.url + "/v1/") else None)
    return seen


def test_track_page_record_before_and_after_initialize_with_context_and_before_send(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app = local.create_app()
    page = open_shop(context, customer_site, local, path="/pricing")
    ids = page.evaluate(
        """async ({apiUrl, appId}) => {
            // Before initialize: kept, never thrown.
            const early = [Countersign.page({section: "plans"}), Countersign.track("viewed plans", {count: 3})];
            await Countersign.initialize({
                apiUrl, appId, metadata: {visitor: {id: "v-web"}},
                beforeSend(event) {
                    if (event.name === "secret") return null;
                    const {email, ...properties} = event.properties || {};
                    return {...event, properties};
                },
            });
            const late = [
                Countersign.track("signup", {plan: "pro", email: "ada@example.com"}),
                Countersign.record("purchase", "Order 7", {total: 12}),
                Countersign.track("secret"),
            ];
            await Countersign.flush();
            return [...early, ...late];
        }""",
        {"apiUrl": local.url, "appId": app["appId"]},
    )
    assert ids[-1] is None  # dropped by beforeSend
    events = {e["insertId"]: e for e in wait_for_events(local, app, 4)}
    assert set(events) == set(ids[:4])
    viewed, listed, signup, purchase = (events[i] for i in ids[:4])
    assert (viewed["type"], viewed["name"]) == ("page", "Shop")
    assert viewed["properties"] == {
        "url": customer_site.url + "/pricing",
        "path": "/pricing",
        "referrer": "",
        "title": "Shop",
        "section": "plans",
    }
    assert (listed["type"], listed["name"], listed["properties"]) == ("track", "viewed plans", {"count": 3})
    assert (signup["type"], signup["name"], signup["properties"]) == ("track", "signup", {"plan": "pro"})
    assert (purchase["type"], purchase["name"], purchase["properties"]) == ("purchase", "Order 7", {"total": 12})
    version = page.evaluate("Countersign.VERSION")
    for event in events.values():
        context_ = event["context"]
        assert context_["library"] == {"name": "@countersign/browser", "version": version}
        assert context_["page"]["url"] == customer_site.url + "/pricing" and context_["page"]["title"] == "Shop"
        assert "Chrome" in context_["userAgent"] and context_["locale"] and context_["timezone"]
        assert context_["screen"]["width"] > 0


def test_consent_opt_out_persists_across_pages_and_initialize_opt_out_waits_for_opt_in(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app = local.create_app()
    requests = sdk_requests(context, local)
    options = {"apiUrl": local.url, "appId": app["appId"], "metadata": {"visitor": {"id": "v-consent"}}, "optOut": True}
    page = open_shop(context, customer_site, local)
    session = page.evaluate(
        "async (o) => { const s = await Countersign.initialize(o); Countersign.track('t'); return s; }", options
    )
    page.wait_for_timeout(1500)
    assert session is None and requests == [], "opted out: no session, no event, no request"

    page.evaluate("Countersign.optIn(); Countersign.track('after consent')")
    wait_until_sent(page)
    assert [e["name"] for e in stored_events(local, app)] == ["after consent"]

    # The next page passes optOut: true again: the visitor's stored choice wins.
    page.reload()
    page.wait_for_function("window.Countersign !== undefined")
    session = page.evaluate("(o) => Countersign.initialize(o)", options)
    assert session and session["visitorId"] == "v-consent"
    page.evaluate("Countersign.optOut(); Countersign.track('after opt-out')")
    page.reload()
    page.wait_for_function("window.Countersign !== undefined")
    before = len(requests)
    status = page.evaluate(
        "async (o) => { await Countersign.initialize({...o, optOut: false}); return Countersign.status(); }", options
    )
    page.wait_for_timeout(1500)
    assert status["optedOut"] is True and len(requests) == before
    assert [e["name"] for e in stored_events(local, app)] == ["after consent"]


def documented_snippet(api_url: str, app_id: str) -> str:
    text = DOCS.read_text()
    found = re.search(r"<!-- snippet: iife -->\n```html\n(.*?)```", text, re.DOTALL)
    assert found, "docs/sdk-web.md has no iife snippet"
    return found.group(1).replace(PLACEHOLDER_URL, api_url).replace(PLACEHOLDER_APP, app_id)


def snippet_page(snippet: str) -> str:
    # Calls made right after the snippet, before the SDK file has loaded, go to the stub's queue.
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Landing</title>
{snippet}<script>
  window.early = Countersign.track("clicked early", {{n: 1}});
  window.stubbed = Array.isArray(Countersign._q);
</script></head><body><h1>Landing</h1></body></html>"""


def test_the_documented_snippet_queues_calls_until_the_iife_loads_then_sends_them(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi, screenshots: Path
) -> None:
    app = local.create_app()
    customer_site.pages["/landing"] = snippet_page(documented_snippet(local.url, app["appId"]))
    page = context.new_page()
    page.goto(customer_site.url + "/landing")
    page.wait_for_function("window.Countersign && window.Countersign.VERSION !== undefined", timeout=15_000)
    assert page.evaluate("window.stubbed") is True
    insert_id = page.evaluate("window.early")  # the stub's promise, settled by the SDK with the insertId
    events = wait_for_events(local, app, 2)
    page.screenshot(path=str(screenshots / "landing.png"))
    assert sorted((e["type"], e["name"]) for e in events) == [("page", "Landing"), ("track", "clicked early")]
    assert insert_id in {e["insertId"] for e in events}


def test_a_snippet_whose_integrity_does_not_match_never_runs_the_file(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi
) -> None:
    app = local.create_app()
    snippet = re.sub(r'"sha384-[^"]+"', '"sha384-' + "A" * 64 + '"', documented_snippet(local.url, app["appId"]))
    customer_site.pages["/tampered"] = snippet_page(snippet)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "integrity" in m.text.lower() else None)
    page.goto(customer_site.url + "/tampered")
    page.wait_for_timeout(2000)
    assert page.evaluate("Array.isArray(window.Countersign._q) && window.Countersign.VERSION === undefined")
    assert blocked, "Chromium says why it refused the file"
    assert stored_events(local, app) == []


@pytest.fixture(scope="module")
def bundled_app(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A customer's app that installs the packed tarball with npm and is built by a bundler (esbuild)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed (apt-get install npm)")
    work = tmp_path_factory.mktemp("npm-app")
    packed = subprocess.run(
        [npm, "pack", "--pack-destination", str(work), "--json"],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        check=True,
    )
    tarball = work / json.loads(packed.stdout)[0]["filename"]
    app = work / "app"
    (app / "src").mkdir(parents=True)
    dependency = {"@countersign/browser": f"file:{tarball}"}
    (app / "package.json").write_text(json.dumps({"name": "shop-app", "private": True, "dependencies": dependency}))
    subprocess.run([npm, "install", "--offline", "--no-audit", "--no-fund"], cwd=app, check=True, capture_output=True)
    installed = app / "node_modules" / "@countersign" / "browser"
    assert {p.name for p in (installed / "dist").iterdir()} >= {
        "countersign.js",
        "countersign.iife.js",
        "countersign.d.ts",
    }
    (app / "src" / "main.js").write_text(
        'import { Countersign, VERSION } from "@countersign/browser";\n'
        "window.Countersign = Countersign;\nwindow.bundledVersion = VERSION;\n"
    )
    script = (
        "require('esbuild').build({entryPoints: [process.argv[1]], bundle: true, format: 'iife', minify: true,"
        " write: false}).then((r) => process.stdout.write(r.outputFiles[0].text))"
    )
    built = subprocess.run(
        ["node", "-e", script, str(app / "src" / "main.js")], cwd=PACKAGE, capture_output=True, text=True, check=True
    )
    return built.stdout


def test_a_bundler_built_app_consumes_the_packed_tarball_from_another_origin(
    context: BrowserContext, customer_site: CustomerSite, local: LocalApi, bundled_app: str
) -> None:
    app = local.create_app()
    customer_site.pages["/bundled"] = (
        f"<!doctype html><title>Bundled</title><h1>Bundled</h1><script>{bundled_app}</script>"
    )
    page: Page = context.new_page()
    page.goto(customer_site.url + "/bundled")
    assert page.url.startswith(customer_site.url) and not local.url.startswith(customer_site.url)
    version = page.evaluate("window.bundledVersion")
    assert version == json.loads((PACKAGE / "package.json").read_text())["version"]
    insert_id = page.evaluate(
        """async ({apiUrl, appId}) => {
            await Countersign.initialize({apiUrl, appId, metadata: {visitor: {id: "v-bundled"}}});
            const id = Countersign.track("bundled", {ok: true});
            await Countersign.flush();
            return id;
        }""",
        {"apiUrl": local.url, "appId": app["appId"]},
    )
    (event,) = wait_for_events(local, app, 1)
    assert (event["insertId"], event["type"], event["name"]) == (insert_id, "track", "bundled")
    assert event["context"]["library"]["version"] == version
