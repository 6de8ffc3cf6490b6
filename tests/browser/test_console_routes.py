"""The console's routes are its four views only (issue 21, defect 10): a fragment naming a member
every JavaScript object inherits (`#constructor`, `#toString`, `#__proto__`) shows the default
view, as an unknown fragment does, and throws nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.support.local import LocalApi

INHERITED = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf", "no-such-view"]


@pytest.mark.parametrize("fragment", INHERITED)
def test_a_fragment_naming_an_inherited_member_shows_install_settings(
    local: LocalApi, context: BrowserContext, fragment: str
) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    demo = local.demo_app
    page.goto(f"{local.url}/console#{fragment}")
    page.get_by_label("Application id").fill(demo["appId"])
    page.get_by_label("Admin token").fill(demo["adminToken"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Install Settings")).to_be_visible()
    expect(page.locator("section[id^=view-]:not([hidden])")).to_have_count(1)
    # Moving to a view and back to the fragment again: still one view, still no error.
    page.goto(f"{local.url}/console#diagnostics")
    expect(page.get_by_role("heading", level=1, name="Diagnostics")).to_be_visible()
    page.goto(f"{local.url}/console#{fragment}")
    expect(page.get_by_role("heading", level=1, name="Install Settings")).to_be_visible()
    expect(page.locator("section[id^=view-]:not([hidden])")).to_have_count(1)
    assert errors == []
    page.close()
