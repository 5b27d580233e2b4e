"""The idle-timeout warning in Debian's chromium (static/js/session-timeout.js).

Before, a session ended after 15 idle minutes without a word: a doctor typing a long review note lost it
on "Sign off" to the login page (and WCAG 2.2.1 asks for a warning and a way to extend)."""

from __future__ import annotations

import time

import pytest

from .conftest import open_signed_in

pytestmark = pytest.mark.browser


@pytest.fixture
def signed_in(live_server, browser_page, owner, password, settings):  # type: ignore[no-untyped-def]
    # A 10-second idle timeout: the warning shows 5 seconds before the end.
    settings.SESSION_COOKIE_AGE = 10
    page = browser_page
    errors = open_signed_in(page, live_server.url, owner, password, "/patients/")
    yield page
    assert errors == []


def test_the_warning_comes_before_the_end_and_stay_signed_in_renews_the_session(signed_in, live_server) -> None:  # type: ignore[no-untyped-def]
    page = signed_in
    started = time.monotonic()
    warning = page.get_by_role("alertdialog", name="Your session is about to end")
    warning.wait_for(state="visible", timeout=9_000)
    assert time.monotonic() - started >= 3  # not at once: shortly before the end
    assert "seconds" in warning.inner_text()
    stay = page.get_by_role("button", name="Stay signed in")
    assert page.evaluate("document.activeElement.textContent") == "Stay signed in"  # the focus is on it
    stay.click()
    warning.wait_for(state="hidden", timeout=5_000)
    # Past the moment the session would have ended without the renewal, it is still open.
    time.sleep(max(0.0, 11 - (time.monotonic() - started)))
    page.goto(f"{live_server.url}/patients/")
    assert "/accounts/login/" not in page.url


def test_an_ignored_warning_ends_with_a_way_to_sign_in_again(signed_in, live_server) -> None:  # type: ignore[no-untyped-def]
    page = signed_in
    ended = page.locator("#session-timeout .session-timeout-ended")
    ended.wait_for(state="visible", timeout=15_000)
    assert "Your session has ended" in ended.inner_text()
    assert page.get_by_role("button", name="Stay signed in").is_hidden()
    link = page.get_by_role("link", name="sign in again")
    assert link.get_attribute("href") == "/accounts/login/?next=/patients/"
    link.click()
    page.wait_for_url("**/accounts/login/**")
