"""The console's Privacy tab (SPEC 7 and 9, issue 24 item 7) in headless Chromium against the local
stack: an erasure requested with the typed confirmation, followed until it completes, and its
suppression lifted by typing the subject's id again; checked against what the API then holds."""

from __future__ import annotations

import time

from playwright.sync_api import Route, expect

from tests.browser.console import Admin, shoot

#: SPEC 9: locally an erasure completes within 60 s of its request.
ERASURE_MS = 60_000


def _start_session(admin: Admin, visitor: str) -> int:
    path = f"/v1/apps/{admin.app['appId']}/sessions"
    return admin.local.call("POST", path, json_body={"metadata": {"visitor": {"id": visitor}}}).status


def _until_session_status(admin: Admin, visitor: str, expected: int) -> None:
    """The ingest path reads suppressions through its cache (CACHE_TTL_SECONDS, 5 s locally)."""
    deadline = time.monotonic() + 20
    while (got := _start_session(admin, visitor)) != expected:
        assert time.monotonic() < deadline, f"a session of the subject still answers {got}, not {expected}"
        time.sleep(1)


def test_an_erasure_is_requested_followed_to_completion_and_its_suppression_lifted(admin: Admin) -> None:
    admin = admin.signed_in("#privacy")
    page = admin.page
    subject = f"visitor-to-forget-{time.time_ns()}"
    assert _start_session(admin, subject) == 201
    expect(page.get_by_role("heading", level=1, name="Privacy")).to_be_visible()
    expect(page.get_by_text("No erasure has been requested.")).to_be_visible()
    expect(page.get_by_text("No subject is suppressed.")).to_be_visible()
    shoot(page, "privacy-empty")

    # Cancelling the confirmation requests nothing.
    page.get_by_label("Id of the visitor to erase").fill(subject)
    page.get_by_label("Suppress this subject after erasing").check()
    page.get_by_role("button", name="Erase…").click()
    dialog = admin.dialog()
    expect(dialog.get_by_role("heading", name="Erase this visitor?")).to_be_visible()
    expect(dialog.get_by_role("button", name="Erase", exact=True)).to_be_disabled()
    shoot(page, "privacy-confirm")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert admin.api("GET", "/erasures")["erasures"] == []

    # Confirmed with the typed phrase, from the keyboard.
    page.get_by_role("button", name="Erase…").click()
    dialog.get_by_label("Type I understand to confirm").fill("I understand")
    page.keyboard.press("Enter")
    expect(page.locator("#erase-status")).to_contain_text("requested")
    [erasure] = admin.api("GET", "/erasures")["erasures"]
    assert erasure["subject"] == {"kind": "visitor"} and erasure["suppress"] is True
    row = page.locator("#erasures-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(erasure["erasureId"])
    # The tab follows the erasure by itself until it completes (no Refresh click).
    expect(row.locator(".badge")).to_have_text("completed", timeout=ERASURE_MS)
    done = admin.api("GET", f"/erasures/{erasure['erasureId']}")
    assert done["status"] == "completed"
    for store in done["stores"].values():
        assert store["remaining"] == 0
    expect(row).to_contain_text("DataTable: removed")
    expect(row).to_contain_text("remaining 0")
    page.get_by_role("button", name="Refresh").click()
    expect(row).to_have_count(1)
    assert subject not in page.locator("#view-privacy").inner_text()  # the log never shows the id
    _until_session_status(admin, subject, 403)  # suppressed

    suppression = page.locator("#suppressions-table tbody tr")
    expect(suppression).to_have_count(1)
    expect(suppression).to_contain_text(erasure["erasureId"])
    shoot(page, "privacy-completed")

    # On a phone both logs are one card per row, each value beside its column's name, with
    # nothing off to the side; a screen reader still finds tables with their rows and cells.
    wide_screen = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    for name in ("Erasures", "Suppressions"):
        log = page.get_by_role("table", name=name)
        wide, shown = log.evaluate("table => [table.parentElement.scrollWidth, table.parentElement.clientWidth]")
        assert wide <= shown, f"the {name} log is {wide} px wide in {shown} px"
    log = page.get_by_role("table", name="Erasures")
    cells = log.locator("tbody tr").first.locator("td")
    assert cells.evaluate_all("cells => cells.map((c) => getComputedStyle(c, '::before').content)") == [
        f'"{name}"' for name in ("Erasure", "Subject", "Status", "Requested", "Deadline", "Completed", "Stores")
    ]
    expect(log.get_by_role("row")).to_have_count(2)  # its header and the one erasure
    expect(log.get_by_role("row").last.get_by_role("cell")).to_have_count(7)
    expect(suppression.get_by_role("button", name="Lift")).to_be_visible()
    shoot(page, "privacy-narrow")
    assert wide_screen is not None
    page.set_viewport_size(wide_screen)

    # Lifting asks for the id again (only its hash is kept); a wrong id lifts nothing.
    suppression.get_by_role("button", name="Lift").click()
    lift_id = page.get_by_label("Id of the suppressed visitor")
    expect(lift_id).to_be_focused()
    lift_id.fill("someone-else")
    page.get_by_role("button", name="Lift suppression").click()
    expect(page.locator("#lift-error")).to_have_text("No visitor is suppressed under this id. Check the id you typed.")
    assert len(admin.api("GET", "/suppressions")["suppressions"]) == 1
    lift_id.fill(subject)
    page.get_by_role("button", name="Lift suppression").click()
    expect(page.locator("#suppressions-status")).to_contain_text("lifted")
    expect(page.locator("#suppressions-table")).to_be_hidden()
    assert admin.api("GET", "/suppressions")["suppressions"] == []
    _until_session_status(admin, subject, 201)  # accepted again

    assert page.evaluate("window.owned") is None
    admin.no_problems()


def test_an_erasure_needs_an_id_and_erases_an_account_without_suppressing(admin: Admin) -> None:
    admin = admin.signed_in("#privacy")
    page = admin.page
    page.locator("#erase-form").get_by_label("Subject", exact=True).select_option("account")
    page.get_by_role("button", name="Erase…").click()
    expect(page.get_by_role("alert").filter(has_text="Enter the account id to erase.")).to_be_visible()
    expect(admin.dialog()).to_be_hidden()
    account_id = page.get_by_label("Id of the account to erase")
    account_id.fill("a" * 256 + "<b>x</b>")  # over the API's limit: the field's maxlength keeps 256
    assert len(account_id.input_value()) == 256
    page.get_by_role("button", name="Erase…").click()
    admin.dialog().get_by_label("Type I understand to confirm").fill("I understand")
    admin.dialog().get_by_role("button", name="Erase", exact=True).click()
    expect(page.locator("#erase-status")).to_contain_text("requested")
    [erasure] = admin.api("GET", "/erasures")["erasures"]
    assert erasure["subject"] == {"kind": "account"} and erasure["suppress"] is False
    admin.no_problems()


def test_a_subject_chosen_before_the_tab_has_loaded_labels_the_id_and_nothing_submits_early(
    admin: Admin,
) -> None:
    """The Privacy view shows before its module (privacy.js) has loaded: on a slow link an admin can
    pick Account first. The id's label must still say account, and until the form's handler exists
    Erase… must not submit natively (that would put the subject's id in the page's URL)."""
    page = admin.page
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/console/privacy.js", hold)
    admin.signed_in("#privacy")
    expect(page.get_by_role("heading", level=1, name="Privacy")).to_be_visible()
    deadline = time.monotonic() + 30
    while not held:  # the route's handler runs as the page's events are processed
        assert time.monotonic() < deadline, "privacy.js was never requested"
        page.wait_for_timeout(50)
    page.locator("#erase-form").get_by_label("Subject", exact=True).select_option("account")
    page.get_by_label("Id of the visitor to erase").fill("account-picked-early")
    expect(page.get_by_role("button", name="Erase…")).to_be_disabled()
    held[0].continue_()
    expect(page.get_by_label("Id of the account to erase")).to_have_value("account-picked-early")
    expect(page.get_by_role("button", name="Erase…")).to_be_enabled()
    assert "account-picked-early" not in page.url
    admin.no_problems()


def test_a_privacy_tab_whose_module_fails_to_load_says_so(admin: Admin) -> None:
    """privacy.js is loaded on first use: if that fails, the tab says so instead of a dead form."""
    page = admin.page
    page.route("**/console/privacy.js", lambda route: route.abort())
    admin.signed_in("#privacy")
    expect(page.get_by_role("alert")).to_have_text("The Privacy tab did not load. Reload the page to try again.")
    expect(page.get_by_role("button", name="Erase…")).to_be_disabled()
    shoot(page, "privacy-did-not-load")
