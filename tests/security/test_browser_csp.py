"""In Debian's chromium: the pages this work added (API docs, Django admin, account pages, the lockout
page) run under the strict Content-Security-Policy without a single violation, and Swagger UI renders
from our own static files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# Collects every CSP refusal the page sees, however it surfaces.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # Playwright's sync API runs an event loop in this thread; let Django's ORM run beside it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context()
        context.add_init_script(RECORD_VIOLATIONS)
        try:
            yield context.new_page()
        finally:
            browser.close()


def _visit(page: Any, url: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return list(page.evaluate("window.__csp"))


def _log_in(page: Any, base: str, username: str, password: str, login_path: str = "/accounts/login/") -> None:
    page.goto(base + login_path)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("[type=submit]")
    page.wait_for_load_state("networkidle")


def test_swagger_ui_renders_under_the_policy(live_server, page, owner, password) -> None:
    _log_in(page, live_server.url, owner.username, password)
    assert _visit(page, f"{live_server.url}/api/v1/docs/") == []
    page.wait_for_selector("text=DR Portal API", timeout=15_000)
    assert page.locator(".opblock").count() >= 8  # every operation of the schema is listed
    assert page.evaluate("window.__csp") == []


def test_the_admin_runs_under_the_policy(live_server, page, superuser, patient, password) -> None:
    _log_in(page, live_server.url, superuser.username, password, "/admin/login/")
    for path in (
        "/admin/",
        "/admin/patients/patient/",
        f"/admin/patients/patient/{patient.pk}/change/",
        "/admin/audit/auditevent/",
    ):
        assert _visit(page, live_server.url + path) == [], path


def test_the_account_pages_run_under_the_policy(live_server, page, clinic_admin, owner, password) -> None:
    _log_in(page, live_server.url, clinic_admin.username, password)
    assert page.url.endswith("/patients/accounts/")
    for path in ("/patients/accounts/", "/patients/accounts/new/", f"/patients/accounts/{owner.pk}/"):
        assert _visit(page, live_server.url + path) == [], path
