"""Browser tests: the system's Chromium, headless, driven by the playwright package, against the local
stack (started once per session on free loopback ports) and pages served from another origin."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from tests.browser.console import Admin
from tests.support.local import LocalApi, running_local_stack
from tests.support.tls import TestPki, make_test_pki

#: Chromium without the background traffic of a desktop browser (no sync, updates or first-run UI).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


#: The share of SDK requests the flaky stack fails.
FAULT_SHARE = 0.35


def chromium_executable() -> str:
    """$CHROMIUM, or Debian's `chromium` (`make install` installs it where it can)."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is not installed: apt-get install chromium, or set CHROMIUM=/path/to/chromium")
    return found


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: its own localStorage, so no queue leaks from one test to the next."""
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture
def admin(local: LocalApi, context: BrowserContext) -> Iterator[Admin]:
    """A fresh application, and a page of its own for the console."""
    page = context.new_page()
    who = Admin(local, page, local.create_app("Console app"))
    yield who
    page.close()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A throw-away CA and a certificate for 127.0.0.1: RS256 JWKS URIs served by the test over HTTPS."""
    return make_test_pki(tmp_path_factory.mktemp("browser-pki"))


@pytest.fixture(scope="session")
def local(tmp_path_factory: pytest.TempPathFactory, pki: TestPki) -> Iterator[LocalApi]:
    """The local stack, with the local-development JWKS override so RS256 works on one machine."""
    state = tmp_path_factory.mktemp("browser-stack")
    with running_local_stack(state, "--allow-private-jwks-hosts", "--jwks-ca-bundle", str(pki.ca_cert)) as api:
        yield api


@pytest.fixture(scope="session")
def flaky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """A local stack that fails about a third of SDK requests (503 or 429 with Retry-After, or the
    answer lost after the write), reproducibly."""
    state = tmp_path_factory.mktemp("flaky-stack")
    with running_local_stack(state, "--sdk-faults", str(FAULT_SHARE), "--fault-seed", "18") as api:
        yield api


@dataclass
class CustomerSite:
    """A customer's web app on its own origin (127.0.0.1, another port): pages by path."""

    url: str
    pages: dict[str, str] = field(default_factory=dict)
    #: JSON answers by path (the customer's own routes, such as one handing out the JWT).
    json: dict[str, Any] = field(default_factory=dict)
    #: Paths (with query) of the POST requests the site received, such as a test's beacons.
    posts: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def customer_site() -> Iterator[CustomerSite]:
    site = CustomerSite(url="")

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path in site.json:
                body, content_type = json.dumps(site.json[path]), "application/json"
            elif path in site.pages:
                body, content_type = site.pages[path], "text/html; charset=utf-8"
            else:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            site.posts.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="customer-site", daemon=True)
    thread.start()
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield site
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def sdk_page(api_url: str) -> str:
    """A customer page that imports the SDK from the API, as docs/sdk-web.md's snippet does, and exposes it."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Shop</h1><p id="state">loading</p>
<script type="module">
  import {{ Countersign, createCountersign }} from "{api_url}/sdk/countersign.js";
  window.Countersign = Countersign;
  window.createCountersign = createCountersign;
  window.rejections = [];
  window.errors = [];
  const state = document.getElementById("state");
  // What a screenshot shows: the SDK's view of its queue.
  const show = () => (state.textContent = Countersign.VERSION + " " + JSON.stringify(Countersign.status()));
  setInterval(show, 200);
</script>
</body></html>
"""


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a test keeps its screenshots (printed on failure by pytest's tmp_path)."""
    return tmp_path
