"""The console as a test drives it: one application seen through the page and through the API,
and screenshots of what the admin sees (.artifacts/screenshots/)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.support.local import REPO_ROOT, LocalApi

SCREENSHOTS = REPO_ROOT / ".artifacts" / "screenshots"


def shoot(page: Page, name: str) -> None:
    """The whole page; with a modal dialog open, the viewport as the admin sees it (a full-page
    capture stretches the page but not the dialog's backdrop, which covers the viewport)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    modal = page.locator("dialog[open]").count() > 0
    page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=not modal)


class Admin:
    """One application seen through the console (`page`) and through the API (`api`)."""

    def __init__(self, local: LocalApi, page: Page, app: dict[str, str]) -> None:
        self.local, self.page, self.app = local, page, app
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console_message)
        page.on("response", self._response)

    def _console_message(self, message: Any) -> None:
        # Failed loads are judged by _response (API refusals are part of the flows); the rest,
        # Content-Security-Policy violations included, is a problem.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(message.text)

    def _response(self, response: Any) -> None:
        if response.status >= 400 and "/v1/apps/" not in response.url:
            self.problems.append(f"{response.status} {response.url}")

    def api(self, method: str, suffix: str, body: Any = None, status: int = 200) -> Any:
        path = f"/v1/apps/{self.app['appId']}{suffix}"
        reply = self.local.call(method, path, json_body=body, token=self.app["adminToken"])
        assert reply.status == status, reply.body
        return reply.body

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.local.url}/console{fragment}")

    def sign_in(self, token: str | None = None) -> None:
        self.page.get_by_label("Application id").fill(self.app["appId"])
        self.page.get_by_label("Admin token").fill(token or self.app["adminToken"])
        self.page.get_by_role("button", name="Sign in").click()

    def signed_in(self, fragment: str = "") -> Admin:
        self.open(fragment)
        self.sign_in()
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()
        return self

    def view(self, name: str) -> None:
        self.page.get_by_role("navigation").get_by_role("link", name=name).click()
        expect(self.page.get_by_role("heading", level=1, name=name)).to_be_visible()

    def toggle(self, name: str) -> Any:
        return self.page.get_by_role("switch", name=name)

    def dialog(self) -> Any:
        return self.page.get_by_role("dialog")

    def no_problems(self) -> None:
        """No script error and no Content-Security-Policy violation happened on the page."""
        assert self.problems == [], self.problems
