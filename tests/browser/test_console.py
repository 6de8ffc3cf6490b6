"""The admin console (SPEC 7) in headless Chromium against the local stack: every flow, as an admin
clicks and types it, checked against what the API then holds. Each screen is photographed into
.artifacts/screenshots/ (look at them: `make browser` refreshes them)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.console import SCREENSHOTS, Admin, shoot
from tests.support.local import COUNTERSIGN, LocalApi, running_jwks_serve, running_local_stack
from tests.support.tokens import hs256_credentials, with_nonce

CONFIRM = {"confirmation": "I understand"}
MARKUP = '<img src=x onerror="window.owned=1"><b>bold</b>'


def test_sign_in_keeps_the_token_in_this_tab_only(admin: Admin, context: BrowserContext) -> None:
    page = admin.page
    admin.open()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, "sign-in")
    admin.sign_in(token="csa_" + "x" * 43)
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    shoot(page, "sign-in-refused")

    admin.sign_in()
    expect(page.get_by_role("heading", name="Install Settings")).to_be_visible()
    token = admin.app["adminToken"]
    assert token not in page.url
    stored = page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
    assert token in stored
    assert page.evaluate("localStorage.length") == 0 and context.cookies() == []
    assert page.get_by_label("Admin token").input_value() == ""  # not left in the hidden form

    page.reload()  # the same tab keeps the session
    expect(page.get_by_role("heading", name="Install Settings")).to_be_visible()
    other_tab = context.new_page()  # another tab does not
    other_tab.goto(f"{admin.local.url}/console")
    expect(other_tab.get_by_role("heading", name="Sign in")).to_be_visible()
    other_tab.close()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert token not in page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    admin.no_problems()


def test_console_is_served_with_a_strict_policy(local: LocalApi) -> None:
    for path in ("/console", "/console/app.js", "/console/console.css"):
        reply = local.call("GET", path)
        assert reply.status == 200, path
        policy = reply.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "http" not in policy
        assert reply.headers["X-Frame-Options"] == "DENY"
    page = local.call("GET", "/console").body
    assert "<script>" not in page and " style=" not in page and "on" + "click=" not in page


def test_generate_show_hide_and_revoke_a_key(admin: Admin) -> None:
    page = admin.page
    admin.api("PATCH", "/settings", {"useSignedMetadata": True})
    admin.signed_in()
    expect(page.get_by_text("No active keys yet")).to_be_visible()
    shoot(page, "install-settings-empty")

    page.get_by_role("button", name="Generate Key").click()
    page.get_by_label("Description").fill("web server")
    page.get_by_role("button", name="Create", exact=True).click()
    row = page.locator("#active-keys tbody tr").filter(has_text="web server")
    expect(row).to_have_count(1)
    key = admin.api("GET", "/keys")["activeKeys"][0]
    assert key["description"] == "web server"
    expect(row).to_contain_text(key["keyName"])
    secret = admin.api("POST", f"/keys/{key['keyName']}/reveal")["secret"]
    assert secret not in page.content()  # hidden until Show

    row.get_by_role("button", name="Show").click()
    expect(row.locator("code.secret")).to_have_text(secret)
    shoot(page, "key-shown")
    row.get_by_role("button", name="Hide").click()
    expect(row).to_contain_text("Hidden")
    assert secret not in page.content()

    # Leaving the page (or hiding it) takes a shown secret out of the page.
    row.get_by_role("button", name="Show").click()
    expect(row.locator("code.secret")).to_have_text(secret)
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    assert secret not in page.content()
    row.get_by_role("button", name="Show").click()
    expect(row.locator("code.secret")).to_have_text(secret)
    page.evaluate("window.dispatchEvent(new Event('pagehide'))")
    assert secret not in page.content()

    # Revoke asks first, showing the key's last use; Cancel keeps it.
    row.get_by_role("button", name="Revoke").click()
    dialog = admin.dialog()
    expect(dialog).to_contain_text(f"Revoke {key['keyName']}?")
    last_used = admin.api("GET", "/keys")["activeKeys"][0]
    expected = "Never" if last_used.get("lastUsedAt", "") is None else "Last used:"
    expect(dialog).to_contain_text(expected)
    expect(dialog).to_contain_text("cannot be undone")
    shoot(page, "revoke-confirmation")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert admin.api("GET", "/keys")["activeKeys"][0]["status"] == "active"

    row.get_by_role("button", name="Revoke").click()
    admin.dialog().get_by_role("button", name="Revoke").click()
    revoked = page.locator("#revoked-keys tbody tr").filter(has_text=key["keyName"])
    expect(revoked).to_have_count(1)
    expect(revoked).to_contain_text("web server")
    expect(page.locator("#active-keys tbody tr")).to_have_count(0)
    listing = admin.api("GET", "/keys")
    assert listing["activeKeys"] == [] and listing["revokedKeys"][0]["keyName"] == key["keyName"]
    shoot(page, "revoked-log")
    admin.no_problems()


@pytest.mark.parametrize("width", [1280, 390])
def test_copy_key_names_and_secrets_and_a_secret_stays_on_one_line(
    local: LocalApi, context: BrowserContext, width: int
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=local.url)
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    admin = Admin(local, page, local.create_app("Copy"))
    key = admin.api("POST", "/keys", {"description": "web server"}, status=201)
    secret = admin.api("POST", f"/keys/{key['keyName']}/reveal")["secret"]
    admin.signed_in()
    row = page.locator("#active-keys tbody tr").filter(has_text="web server")

    def clipboard() -> str:
        return str(page.evaluate("navigator.clipboard.readText()"))

    row.get_by_role("button", name=f"Copy key name {key['keyName']}").click()
    expect(page.locator("#keys-status")).to_have_text(f"Copied the key name {key['keyName']}.")
    assert clipboard() == key["keyName"]

    row.get_by_role("button", name="Show").click()
    shown = row.locator("code.secret")
    expect(shown).to_have_text(secret)
    row.get_by_role("button", name=f"Copy secret of {key['keyName']}").click()
    expect(page.locator("#keys-status")).to_have_text(f"Copied the secret of {key['keyName']}.")
    assert clipboard() == secret
    # One line (it scrolls sideways inside its box), never wrapped over two or three.
    lines = shown.evaluate("e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)")
    assert lines < 1.6, lines
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    if width >= 1024:  # on a desktop the row's every action shows without scrolling the table sideways
        table = "document.querySelector('#active-keys').closest('.scroll')"
        assert page.evaluate(f"{table}.scrollWidth <= {table}.clientWidth + 1")
        expect(row.get_by_role("button", name="Revoke")).to_be_in_viewport(ratio=1)
    shoot(page, f"key-shown-copy-{width}")
    row.get_by_role("button", name="Hide").click()
    assert secret not in page.content()
    admin.no_problems()
    page.close()


RATE_LIMITED = json.dumps({"error": {"code": "rate_limited", "message": "Over this second's limit: wait a moment."}})


def test_a_rate_limited_request_is_asked_again_after_retry_after_and_runs_once(admin: Admin) -> None:
    """A 429 was refused before it ran: the console waits its Retry-After and asks again, so a busy
    second (several admins, a page's parallel loads) costs a moment, not an error; a request still
    refused after three retries shows the API's words."""
    page = admin.page
    admin.signed_in()
    asked: list[str] = []
    refusals = {"left": 1}

    def over_the_limit(route: Any) -> None:
        asked.append(route.request.method)
        if route.request.method == "POST" and refusals["left"]:
            refusals["left"] -= 1
            route.fulfill(status=429, headers={"Retry-After": "1"}, content_type="application/json", body=RATE_LIMITED)
        else:
            route.continue_()

    page.route(f"**/v1/apps/{admin.app['appId']}/keys", over_the_limit)
    page.get_by_role("button", name="Generate Key").click()
    page.get_by_label("Description").fill("busy second")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#active-keys tbody tr").filter(has_text="busy second")).to_have_count(1)
    assert asked[:2] == ["POST", "POST"], asked  # the refused request, then the one that ran
    assert [key["description"] for key in admin.api("GET", "/keys")["activeKeys"]] == ["busy second"]
    expect(page.locator("#keys-error")).to_have_text("")

    refusals["left"] = 4  # the first ask and all three retries
    page.get_by_role("button", name="Generate Key").click()
    page.get_by_label("Description").fill("very busy second")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#keys-error")).to_contain_text("Over this second's limit: wait a moment.", timeout=10_000)
    expect(page.locator("#keys-status")).to_be_hidden()  # the first key's "created" is not this one's
    shoot(page, "key-rate-limited")
    assert refusals["left"] == 0 and len(admin.api("GET", "/keys")["activeKeys"]) == 1
    admin.no_problems()


def test_last_use_is_shown_before_revoking(admin: Admin) -> None:
    import jwt

    admin.api("PATCH", "/settings", {"useSignedMetadata": True})
    key = admin.api("POST", "/keys", {"description": "signing server"}, status=201)
    secret = admin.api("POST", f"/keys/{key['keyName']}/reveal")["secret"]
    token = jwt.encode({"nonce": "n-1", "visitor": {"id": "v-1"}}, secret.encode(), algorithm="HS256")
    start = {"jwt": token, "signingKeyName": key["keyName"]}
    assert admin.local.call("POST", f"/v1/apps/{admin.app['appId']}/sessions", json_body=start).status == 201
    listed = admin.api("GET", "/keys")["activeKeys"][0]
    assert listed["lastUsedAt"] is not None
    admin.signed_in()
    shown = re.sub(r"T(\d\d:\d\d).*", r" \1 UTC", listed["lastUsedAt"])
    row = admin.page.locator("#active-keys tbody tr").filter(has_text="signing server")
    expect(row).to_contain_text(shown)
    row.get_by_role("button", name="Revoke").click()
    expect(admin.dialog()).to_contain_text(
        f"Last used: {shown}. In the last 24 hours it signed 1 session and 0 events."
    )
    admin.dialog().get_by_role("button", name="Cancel").click()


def test_five_active_keys_disable_generate(admin: Admin) -> None:
    for index in range(5):
        admin.api("POST", "/keys", {"description": f"server {index}"}, status=201)
    admin.signed_in()
    expect(admin.page.locator("#active-keys tbody tr")).to_have_count(5)
    expect(admin.page.get_by_role("button", name="Generate Key")).to_be_disabled()
    expect(admin.page.get_by_text("Five keys are active")).to_be_visible()


def test_markup_from_the_api_is_shown_as_text(admin: Admin) -> None:
    admin.api("POST", "/keys", {"description": MARKUP}, status=201)
    admin.signed_in()
    row = admin.page.locator("#active-keys tbody tr")
    expect(row.locator("td.description")).to_have_text(MARKUP)
    assert row.locator("img, b").count() == 0
    assert admin.page.evaluate("window.owned") is None
    admin.no_problems()


def test_toggles_follow_the_rules_with_the_typed_confirmation(admin: Admin) -> None:
    page = admin.page
    admin.signed_in()
    hs256, rs256, only = (
        admin.toggle("Use signed metadata"),
        admin.toggle("Use RS256-signed metadata"),
        admin.toggle("Only allow signed metadata"),
    )
    expect(only).not_to_be_checked()

    def settled() -> None:
        """Busy while a change is in flight (and its dialog open) and while the locks are asked."""
        expect(page.locator("#toggles-card[aria-busy]")).to_have_count(0)

    def lock_of(toggle: str) -> Any:
        return page.locator(f"#{toggle}-lock")

    settled()
    # Rule 1: only allowing signed metadata needs a usable signing mode. The API refuses it (a dry
    # run), so the switch is disabled, saying why in the console's words.
    expect(only).to_be_disabled()
    expect(lock_of("onlyAllowSignedMetadata")).to_have_text(
        "Turn on Use signed metadata, or Use RS256-signed metadata with a saved JWKS URI, "
        "before only allowing signed metadata."
    )
    expect(only).to_have_attribute("aria-describedby", re.compile(r"\bonlyAllowSignedMetadata-lock\b"))
    shoot(page, "toggle-locked")

    hs256.click()
    settled()
    expect(hs256).to_be_checked()
    # A saved change is confirmed in the toggles' words, and the lock it lifted is gone.
    expect(page.locator("#settings-status")).to_have_text(re.compile(r"^Saved at .+ UTC: Use signed metadata is on\.$"))
    expect(only).to_be_enabled()
    expect(lock_of("onlyAllowSignedMetadata")).to_be_hidden()
    assert admin.api("GET", "/settings")["useSignedMetadata"] is True

    # Turning it on asks for the typed confirmation and shows what it would drop.
    unsigned = {"metadata": {"visitor": {"id": "v-unsigned"}, "account": {"id": "a-1"}}}
    assert admin.local.call("POST", f"/v1/apps/{admin.app['appId']}/sessions", json_body=unsigned).status == 201
    only.click()
    dialog = admin.dialog()
    expect(dialog).to_contain_text("Only allow signed metadata?")
    expect(dialog).to_contain_text("Dropped data cannot be recovered.")
    dry = admin.local.call(
        "PATCH",
        f"/v1/apps/{admin.app['appId']}/settings",
        json_body={"onlyAllowSignedMetadata": True, **CONFIRM, "dryRun": True},
        token=admin.app["adminToken"],
    )
    assert dry.body["impact"]["wouldDrop"]["sessions"] == 1
    expect(dialog.locator("#confirm-impact")).to_have_text(
        "In the last 24 hours, this would have dropped 1 session and 0 events."
    )
    confirm = dialog.get_by_role("button", name="Confirm")
    expect(confirm).to_be_disabled()
    phrase = dialog.get_by_label("Type I understand to confirm")
    phrase.fill("i understand")
    expect(confirm).to_be_disabled()
    shoot(page, "only-allow-confirmation")
    dialog.get_by_role("button", name="Cancel").click()
    settled()
    expect(only).not_to_be_checked()
    assert admin.api("GET", "/settings")["onlyAllowSignedMetadata"] is False

    only.click()
    phrase.fill("I understand")
    expect(confirm).to_be_enabled()
    phrase.press("Enter")  # the keyboard confirms as well as the button
    settled()
    expect(only).to_be_checked()
    assert admin.api("GET", "/settings")["onlyAllowSignedMetadata"] is True

    expect(page.locator("#settings-status")).to_contain_text("Only allow signed metadata is on.")

    # Rule 2: while it is on, the signing mode that is on cannot be turned off: the switch is
    # disabled with the reason in the console's words (never a JSON field name). The API refuses too.
    expect(hs256).to_be_disabled()
    expect(hs256).to_be_checked()
    expect(lock_of("useSignedMetadata")).to_have_text(
        "Locked while Only allow signed metadata is on: turn that off first to change this."
    )
    assert "onlyAllowSignedMetadata" not in page.locator("#view-install-settings").inner_text()
    shoot(page, "toggle-locked-by-only-allow")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "phone-toggle-locked-by-only-allow")
    page.set_viewport_size({"width": 1280, "height": 900})
    refused = admin.api("PATCH", "/settings", {"useSignedMetadata": False}, status=409)
    assert refused["error"]["code"] == "only_signed_metadata_enabled"

    only.click()  # turning it off drops nothing: no question
    settled()
    expect(only).not_to_be_checked()
    expect(dialog).to_be_hidden()
    expect(hs256).to_be_enabled()
    expect(page.locator("#settings-status")).to_contain_text("Only allow signed metadata is off.")

    # Rule 3: turning RS256 off needs the confirmation (the JWKS card comes and goes with it).
    rs256.click()
    settled()
    expect(rs256).to_be_checked()
    expect(page.get_by_role("heading", name="JSON Web Key Set (JWKS) URI")).to_be_visible()
    rs256.click()
    expect(dialog).to_contain_text("Turn off RS256-signed metadata?")
    expect(dialog).to_contain_text("JWKS URI is removed")
    phrase.fill("I understand")
    confirm.click()
    settled()
    expect(rs256).not_to_be_checked()
    expect(page.get_by_role("heading", name="JSON Web Key Set (JWKS) URI")).to_be_hidden()
    assert admin.api("GET", "/settings")["useRs256SignedMetadata"] is False
    admin.no_problems()


def test_keyboard_only(admin: Admin) -> None:
    """Sign in, switch a toggle and generate a key without the mouse."""
    page = admin.page
    admin.open()
    page.get_by_label("Application id").focus()
    page.keyboard.type(admin.app["appId"])
    page.keyboard.press("Tab")
    page.keyboard.type(admin.app["adminToken"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Install Settings")).to_be_visible()
    admin.toggle("Use signed metadata").focus()
    page.keyboard.press("Space")
    expect(admin.toggle("Use signed metadata")).to_be_checked()
    # The switch is disabled while its PATCH is in flight: checked is not saved until it is enabled.
    expect(admin.toggle("Use signed metadata")).to_be_enabled()
    expect(admin.toggle("Use signed metadata")).to_be_checked()
    page.get_by_role("button", name="Generate Key").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Description")).to_be_focused()
    page.keyboard.type("keyboard key")
    page.keyboard.press("Enter")
    expect(page.locator("#active-keys tbody tr").filter(has_text="keyboard key")).to_have_count(1)
    page.get_by_role("link", name="Raw Events").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Raw Events")).to_be_visible()
    assert admin.api("GET", "/settings")["useSignedMetadata"] is True


def test_raw_events_with_a_visitor_filter(admin: Admin) -> None:
    page = admin.page
    admin.signed_in("#raw-events")
    expect(page.get_by_text("No accepted events yet.")).to_be_visible()
    shoot(page, "raw-events-empty")
    base = f"/v1/apps/{admin.app['appId']}"
    now = int(time.time() * 1000)
    for visitor in ("v-alpha", "v-beta"):
        start = {"metadata": {"visitor": {"id": visitor}, "account": {"id": "acme"}}}
        session = admin.local.call("POST", f"{base}/sessions", json_body=start).body["sessionId"]
        events = [{"type": "page_view", "name": f"home {visitor}", "timestamp": now, "properties": {"html": MARKUP}}]
        batch = {"sessionId": session, "events": events}
        assert admin.local.call("POST", f"{base}/events", json_body=batch).status == 200

    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#raw-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Unsigned")
    shoot(page, "raw-events")
    page.get_by_label("Visitor id").fill("v-alpha")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("home v-alpha")
    assert page.locator("#raw-table img").count() == 0
    page.get_by_label("Visitor id").fill("nobody")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No accepted events of visitor “nobody”.")).to_be_visible()
    page.get_by_role("button", name="Clear").click()
    expect(rows).to_have_count(2)
    admin.no_problems()


def test_raw_events_list_on_page_by_page_to_the_oldest(admin: Admin) -> None:
    """30 events, 25 a page: Show older events adds the 5 older ones under them, each once, in the
    API's order; then nothing is left and the button goes."""
    page = admin.page
    base = f"/v1/apps/{admin.app['appId']}"
    start = {"metadata": {"visitor": {"id": "v-pages"}}}
    session = admin.local.call("POST", f"{base}/sessions", json_body=start).body["sessionId"]
    now = int(time.time() * 1000)
    events = [{"type": "track", "name": f"step {n:02}", "timestamp": now + n} for n in range(30)]
    assert admin.local.call("POST", f"{base}/events", json_body={"sessionId": session, "events": events}).status == 200
    newest_first = [event["name"] for event in admin.api("GET", "/raw-events?limit=100")["events"]]
    assert sorted(newest_first) == [event["name"] for event in events]

    admin.signed_in("#raw-events")
    rows, more = page.locator("#raw-table tbody tr"), page.get_by_role("button", name="Show older events")
    expect(rows).to_have_count(25)
    expect(page.locator("#raw-status")).to_contain_text("Older events are left")
    more.dblclick()  # one page is asked for, once
    expect(rows).to_have_count(30)
    expect(more).to_be_hidden()
    assert rows.locator("td:nth-child(3)").all_inner_texts() == newest_first
    # A new filter starts a new listing from the newest; from the keyboard, the last page leaves
    # the focus on the line that counts the events (the button it was on is gone).
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(25)
    expect(more).to_be_visible()
    shoot(page, "raw-events-older-left")
    more.focus()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(30)
    expect(page.locator("#raw-status")).to_be_focused()
    expect(page.locator("#raw-status")).to_have_text("30 events, newest first.")
    admin.no_problems()


def test_diagnostics(admin: Admin) -> None:
    page = admin.page
    base = f"/v1/apps/{admin.app['appId']}"
    bad = {"jwt": "not.a.token", "signingKeyName": "key_000000000000"}
    assert admin.local.call("POST", f"{base}/sessions", json_body=bad).status in {400, 401, 403}
    start = {"metadata": {"visitor": {"id": "v-1"}, "account": {"id": "a-1"}}}
    session = admin.local.call("POST", f"{base}/sessions", json_body=start).body["sessionId"]
    batch = {"sessionId": session, "events": [{"type": "x", "timestamp": int(time.time() * 1000)}]}
    assert admin.local.call("POST", f"{base}/events", json_body=batch).body["accepted"] == 1
    expected = admin.api("GET", "/diagnostics")
    reason = next(iter(expected["counts"]["dropped"]))

    admin.signed_in("#diagnostics")
    figures = page.locator("#diagnostics-figures")
    expect(figures).to_contain_text("Accepted1")
    # Over what window, in words.
    expect(page.locator("#diagnostics-window")).to_have_text(
        re.compile(r"^Counts of the last 30 days, from .+ UTC to .+ UTC\. Recent drops are kept 7 days\.$")
    )
    # Per drop code, what it means and how to fix it: the API's own words (its one error table).
    row = page.locator("#dropped-reasons tbody tr").filter(has_text=reason)
    expect(row.locator("td").nth(2)).to_have_text(expected["reasons"][reason]["meaning"])
    expect(row.locator("td").nth(3)).to_have_text(expected["reasons"][reason]["fix"])
    headers = page.locator("#dropped-reasons thead th")
    expect(headers).to_have_text(["Reason", "Count", "What it means", "How to fix it"])
    expect(page.locator("#rejected-reasons")).to_contain_text("No event was rejected in the last 30 days.")
    expect(page.locator("#recent-drops tbody tr").first).to_contain_text(reason)
    shoot(page, "diagnostics")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "phone-diagnostics-reasons")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    admin.no_problems()


def test_empty_states_say_what_to_do_next(admin: Admin) -> None:
    page = admin.page
    admin.signed_in()
    expect(page.locator("#keys-status")).to_contain_text("No active keys yet. Generate Key creates one")
    admin.view("Raw Events")
    expect(page.locator("#raw-status")).to_contain_text("Add the SDK to a page of your site")
    admin.view("Diagnostics")
    expect(page.locator("#diagnostics-empty")).to_contain_text("Nothing arrived in the last 30 days. Add the SDK")
    expect(page.locator("#recent-drops")).to_have_text("No drops in the last 7 days.")
    shoot(page, "diagnostics-empty")
    admin.view("Coverage")
    expect(page.locator("#coverage-empty")).to_contain_text("No sessions or events in this window.")
    expect(page.locator("#coverage-share")).to_contain_text("Signed sessions—")
    shoot(page, "coverage-empty")
    admin.no_problems()


def test_coverage(admin: Admin) -> None:
    page = admin.page
    base = f"/v1/apps/{admin.app['appId']}"
    start = {"metadata": {"visitor": {"id": "v-1"}, "account": {"id": "a-1"}}}
    assert admin.local.call("POST", f"{base}/sessions", json_body=start).status == 201
    admin.api("PATCH", "/settings", {"useSignedMetadata": True})
    key = admin.api("POST", "/keys", {"description": "server"}, status=201)
    secret = admin.api("POST", f"/keys/{key['keyName']}/reveal")["secret"]
    for visitor in ("v-2", "v-3", "v-4"):
        # Until the local stack's settings cache (a few seconds) sees HS256 on, a signed start is refused.
        deadline = time.monotonic() + 30
        while True:
            signed = hs256_credentials(with_nonce({"visitor": {"id": visitor}}), secret, key["keyName"])
            reply = admin.local.call("POST", f"{base}/sessions", json_body=signed)
            if reply.status == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert reply.status == 201, reply.body
    answer = admin.local.call("GET", f"{base}/coverage", token=admin.app["adminToken"])
    assert answer.body["sessions"] == {"hs256": 3, "rs256": 0, "unsigned": 1}
    admin.signed_in("#coverage")
    # The share signed, and the hourly trend drawn inline from the API's hours (no script of
    # another origin: the strict policy holds, no_problems below).
    expect(page.locator("#coverage-share")).to_contain_text("Signed sessions75 %")
    trend = page.get_by_role("img", name="Sessions per hour, signed and unsigned")
    expect(trend).to_be_visible()
    assert trend.evaluate("svg => svg.namespaceURI") == "http://www.w3.org/2000/svg"
    assert len(answer.body["hourly"]) == 25
    described = re.compile(r"^25 hours from .+: 3 signed sessions and 1 unsigned session")
    expect(trend.locator("desc")).to_have_text(described)
    (hour,) = [entry for entry in answer.body["hourly"] if entry["sessions"]["signed"]]
    expect(trend.locator("rect.signed")).to_have_count(1)
    expect(trend.locator("rect.unsigned")).to_have_count(1)
    heights = trend.evaluate(
        "svg => ['signed', 'unsigned'].map(c => Number(svg.querySelector('rect.' + c).getAttribute('height')))"
    )
    assert hour["sessions"] == {"signed": 3, "unsigned": 1} and heights[0] == 3 * heights[1]
    unsigned = page.locator("#coverage-modes tbody tr").filter(has_text="Unsigned")
    expect(unsigned).to_contain_text(str(answer.body["sessions"]["unsigned"]))
    expect(page.locator("#coverage-would-drop")).to_contain_text(f"{answer.body['wouldDrop']['sessions']} session")
    page.get_by_label("Window").select_option("720")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#coverage-status")).to_be_hidden()
    # Figures and their headers line up on the right; the mode names on the left.
    aligned = page.locator("#coverage-modes").evaluate(
        "t => [...t.rows].map(r => [...r.cells].map(c => getComputedStyle(c).textAlign))"
    )
    assert aligned and all(row == ["left", "right", "right"] for row in aligned), aligned
    shoot(page, "coverage")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "phone-coverage-trend")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    admin.no_problems()


def test_phone_width(local: LocalApi, context: BrowserContext) -> None:
    """At 390 px nothing overflows the page sideways; tables scroll inside their own box."""
    page = context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    admin = Admin(local, page, local.create_app("Phone"))
    admin.api("POST", "/keys", {"description": "a rather long description of the web server that signs"}, status=201)
    admin.signed_in()
    expect(page.locator("#active-keys tbody tr")).to_have_count(1)
    for fragment in ("", "#raw-events", "#diagnostics", "#coverage"):
        page.goto(f"{local.url}/console{fragment}")
        expect(page.locator(".view:not([hidden])")).to_have_count(1)  # shown and loading at once
        expect(page.locator(".view:not([hidden]) .status.loading")).to_have_count(0)
        shoot(page, f"phone{fragment.replace('#', '-') or '-install-settings'}")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), fragment
    page.close()


# ------------------------------------------------------------------------------------ JWKS URI


@pytest.fixture(scope="module")
def rs256_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalApi, str, Path, str]]:
    """A stack with the local JWKS override, and `jwks-serve` publishing a file the tests rewrite."""
    root = tmp_path_factory.mktemp("console-rs256")
    keys = root / "keys"
    made = subprocess.run(
        [str(COUNTERSIGN), "keygen", "--kid", "console-key", "--private-key", str(keys / "key.pem"),
         "--jwks", str(keys / "jwks.json")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    good = (keys / "jwks.json").read_text()
    served = root / "served.json"
    served.write_text(good)
    with running_jwks_serve(served, root / "serve-state") as serve:
        flags = ("--allow-private-jwks-hosts", "--jwks-ca-bundle", str(serve.ca_bundle))
        with running_local_stack(root / "stack", *flags) as local:
            yield local, serve.uri, served, good


def test_jwks_uri_test_then_save(rs256_world: tuple[LocalApi, str, Path, str], context: BrowserContext) -> None:
    local, uri, served, good = rs256_world
    page = context.new_page()
    admin = Admin(local, page, local.create_app("RS256 console"))
    admin.api("PATCH", "/settings", {"useRs256SignedMetadata": True})
    admin.signed_in()
    field = page.get_by_label("JWKS URI", exact=True)
    test, save = page.get_by_role("button", name="Test URI"), page.get_by_role("button", name="Save URI")
    result = page.locator("#jwks-result")

    # An invalid URI: the SPEC's message and its detail; Save stays disabled.
    field.fill("http://jwks.example.com/keys.json")
    expect(save).to_be_disabled()
    test.click()
    expect(result).to_contain_text("The JWKS URI is invalid.")
    expect(result).to_contain_text("https")
    expect(save).to_be_disabled()
    shoot(page, "jwks-invalid")

    field.fill("")
    test.click()
    expect(result).to_contain_text("The JWKS URI cannot be empty.")

    # A document whose only key is unusable: the detail quotes its kid, shown as text.
    served.write_text(json.dumps({"keys": [{"kty": "EC", "kid": MARKUP}]}))
    field.fill(uri)
    test.click()
    expect(result).to_contain_text("Unable to fetch a JWK Set from the specified URI.")
    expect(result.locator(".detail")).to_contain_text(json.dumps(MARKUP)[:30])
    assert result.locator("img, b").count() == 0 and page.evaluate("window.owned") is None
    expect(save).to_be_disabled()

    # A good document: its keys, and Save for exactly that text.
    served.write_text(good)
    test.click()
    expect(result).to_contain_text("passed its test")
    expect(result.locator("tbody tr")).to_contain_text("console-key")
    expect(result.locator("tbody tr")).to_contain_text("2048")
    expect(save).to_be_enabled()
    shoot(page, "jwks-tested")

    field.press("End")
    field.press_sequentially("x")  # an edit needs a new test
    expect(save).to_be_disabled()
    field.press("Backspace")  # even back to the tested text
    expect(save).to_be_disabled()
    test.click()
    expect(save).to_be_enabled()
    save.click()
    expect(page.locator("#jwks-saved-uri")).to_have_text(uri)
    expect(save).to_be_disabled()
    assert admin.api("GET", "/settings")["jwksUri"] == uri
    shoot(page, "jwks-saved")

    # Locked while only signed metadata is allowed.
    admin.api("PATCH", "/settings", {"onlyAllowSignedMetadata": True, **CONFIRM})
    page.reload()
    expect(page.get_by_text("Turn off Only allow signed metadata to change the JWKS URI.")).to_be_visible()
    expect(field).to_be_disabled()
    admin.no_problems()
    page.close()


def test_the_console_is_light(admin: Admin) -> None:
    """Everything the signed-in console loads from its own origin, as the browser counted it."""
    admin.signed_in()
    expect(admin.page.locator("#settings-status")).to_be_hidden()
    entries = admin.page.evaluate(
        "[performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]"
        ".filter((e) => new URL(e.name).pathname.startsWith('/console'))"
        ".map((e) => ({name: e.name, bytes: e.encodedBodySize}))"
    )
    files = {entry["name"].rsplit("/", 1)[-1] for entry in entries}
    assert {"console", "app.js", "api.js", "console.css"} <= files
    total = sum(entry["bytes"] for entry in entries)
    SCREENSHOTS.parent.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "console-size.json").write_text(json.dumps({"files": len(entries), "bytes": total}))
    assert total < 80_000, entries  # uncompressed here; API Gateway gzips it to about a third
