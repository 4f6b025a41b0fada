"""/docs in a real headless browser, on the local stack: the page a developer opens, with no token and no network.

The browser opens /docs, sees every operation of docs/openapi.json listed, runs GET /health through "Try it out"
(401 before authorising), authorises with a token from `POST /_local/token` and runs it again (200). Every request
the page makes is recorded: all of them go to the stack on loopback; anything else is aborted and fails the test.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT
from tests.support.local_stack import RunningStack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route
    from playwright.sync_api import Response as PlaywrightResponse

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

DOCUMENT = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
TIMEOUT_MS = 30_000


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Seen:
    """What the page asked for and what it logged."""

    requests: list[str] = field(default_factory=list)
    authorizations: dict[str, list[str | None]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    encodings: dict[str, str | None] = field(default_factory=dict)

    def request(self, request: Request) -> None:
        self.requests.append(request.url)
        path = urlsplit(request.url).path
        self.authorizations.setdefault(path, []).append(request.headers.get("authorization"))

    def response(self, response: PlaywrightResponse) -> None:
        self.encodings[urlsplit(response.url).path] = response.headers.get("content-encoding")

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


def _only_loopback(route: Route) -> None:
    """Let the page reach the stack and nothing else (an offline laptop would fail there too)."""
    if _loopback(route.request.url):
        route.continue_()
    else:
        route.abort()


def _execute(page: Page, block_id: str, *, clear: bool) -> str:
    """Press Execute on an operation already in "Try it out" mode; the status code Swagger UI shows."""
    block = page.locator(f"#{block_id}")
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    status.wait_for(timeout=TIMEOUT_MS)
    text = status.inner_text().strip()
    if clear:
        block.locator("button.btn-clear").click()
    return text


@pytest.fixture
def docs_page(browser: Browser, local_stack: RunningStack) -> tuple[Page, Seen]:
    context = browser.new_context(viewport={"width": 1280, "height": 2400})
    seen = Seen()
    context.route("**/*", _only_loopback)
    context.on("request", seen.request)
    context.on("response", seen.response)
    page = context.new_page()
    page.on("console", seen.console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    response = page.goto(f"{local_stack.base_url}/docs", wait_until="networkidle", timeout=TIMEOUT_MS)
    assert response is not None
    assert response.status == 200
    page.locator(".opblock").first.wait_for(timeout=TIMEOUT_MS)
    return page, seen


def test_docs_page_lists_every_operation_and_runs_health_with_a_local_token(
    docs_page: tuple[Page, Seen], local_stack: RunningStack, screenshots: Path
) -> None:
    page, seen = docs_page
    listed = set()
    for block in page.locator(".opblock").all():
        method = block.locator(".opblock-summary-method").inner_text().strip().lower()
        path = block.locator(".opblock-summary-path").get_attribute("data-path")
        listed.add((method, path))
    documented = {(method, path) for path, operations in DOCUMENT["paths"].items() for method in operations}
    assert listed == documented

    health = page.locator(".opblock").filter(has=page.locator('[data-path="/health"]'))
    block_id = health.get_attribute("id")
    assert block_id is not None
    health.locator(".opblock-summary-control").click()
    health.locator("button.try-out__btn").click()
    assert _execute(page, block_id, clear=True) == "401"  # no token yet: the authorizer refuses, as in AWS

    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".modal-ux")
    dialog.locator("input").first.fill(local_stack.token("clinicians", clinic_id="lyon-neuro"))
    dialog.locator("button.modal-btn.auth.authorize").click()
    dialog.locator("button.btn-done").click()
    assert _execute(page, block_id, clear=False) == "200"
    answer = health.locator(".live-responses-table .response .response-col_description").first
    assert '"status": "ok"' in answer.inner_text()
    page.screenshot(path=str(screenshots / "docs.png"), full_page=True)
    health.screenshot(path=str(screenshots / "docs-health.png"))

    assert seen.authorizations["/health"][0] is None
    assert str(seen.authorizations["/health"][-1]).startswith("Bearer ey")
    assert not [url for url in seen.requests if not _loopback(url)], "the page reached past loopback"
    paths = {urlsplit(url).path for url in seen.requests}
    assert {"/docs", "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/openapi.json", "/health"} <= paths
    assert seen.encodings["/docs/swagger-ui-bundle.js"] == "gzip"  # 1.5 MB sent as 0.4 MB
    assert [error for error in seen.errors if "401" not in error] == []  # no CSP refusal, no script error
