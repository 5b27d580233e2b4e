"""The idle-timeout warning in Debian's chromium (static/js/session-timeout.js).

Before, a session ended after 15 idle minutes without a word: a doctor typing a long review note lost it
on "Sign off" to the login page (and WCAG 2.2.1 asks for a warning and a way to extend)."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from tests.examination_data import graded_examination

from .conftest import open_signed_in

pytestmark = pytest.mark.browser
NOTE = "Dot haemorrhages temporal to the right macula."


@pytest.fixture
def signed_in(live_server, browser_page, owner, password, settings):
    # A 10-second idle timeout: the warning shows 5 seconds before the end.
    settings.SESSION_COOKIE_AGE = 10
    page = browser_page
    errors = open_signed_in(page, live_server.url, owner, password, "/patients/")
    yield page
    assert errors == []


def test_the_warning_comes_before_the_end_and_stay_signed_in_renews_the_session(signed_in, live_server) -> None:
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


def test_an_ignored_warning_ends_with_a_way_to_sign_in_again(signed_in, live_server) -> None:
    page = signed_in
    ended = page.locator("#session-timeout .session-timeout-ended")
    ended.wait_for(state="visible", timeout=15_000)
    assert "Your session has ended" in ended.inner_text()
    assert page.get_by_role("button", name="Stay signed in").is_hidden()
    link = page.get_by_role("link", name="sign in again")
    assert link.get_attribute("href") == "/accounts/login/?next=/patients/"
    link.click()
    page.wait_for_url("**/accounts/login/**")


def test_typing_keeps_the_session_and_the_warning_never_takes_the_focus(signed_in, live_server) -> None:
    """The audit's finding: the warning took the focus while a doctor typed, and the keystrokes were lost."""
    page = signed_in
    search = page.locator("main input[type=search], main input[name=q]").first
    search.click()
    typed = ""
    for letter in "retinopathy":  # one a second: past the warning's time and the end's, without a request
        page.keyboard.type(letter)
        typed += letter
        time.sleep(1.1)
        assert page.locator("#session-timeout").is_hidden()
    assert search.input_value() == typed
    assert page.evaluate("document.activeElement.name") == search.get_attribute("name")
    page.goto(f"{live_server.url}/patients/")
    assert "/accounts/login/" not in page.url  # the typing renewed the session


def test_a_review_sent_after_the_session_ended_is_kept_and_filled_in_again(
    live_server, browser_page, colleague, patient, password, settings
) -> None:
    """The audit's finding: 'Sign off' after the end went to the login page, then to a blank 405 page, and the
    notes and grades were gone."""
    from screening.models import Review

    examination = graded_examination(patient=patient)
    page = browser_page
    result = f"/screening/examinations/{examination.pk}/"

    def fill(page) -> None:
        page.locator("#review input[name=right_grade][value='1']").check()
        page.locator("#review input[name=left_grade][value='0']").check()
        page.fill("#review textarea[name=notes]", NOTE)

    errors = _end_and_send(
        page, settings, live_server, colleague, password, result, fill, "#review button[type=submit]"
    )
    _sign_in_here(page, colleague, password)
    page.wait_for_url(f"{live_server.url}{result}")
    restored = page.locator(".draft-restored")
    restored.wait_for(state="visible", timeout=5_000)
    assert page.locator("#review textarea[name=notes]").input_value() == NOTE
    assert page.locator("#review input[name=right_grade][value='1']").is_checked()
    assert not Review.objects.filter(examination=examination).exists()  # nothing was sent without a session
    page.click("#review button[type=submit]")
    page.wait_for_selector("text=Review signed off.")
    review = Review.objects.get(examination=examination)
    assert (review.right_grade, review.left_grade) == (1, 0)
    assert review.notes == NOTE
    assert errors == []


def test_an_upload_sent_after_the_session_ended_keeps_its_notes_and_asks_for_the_photographs_again(
    live_server, browser_page, owner, patient, password, settings
) -> None:
    from screening.models import Examination

    from .conftest import LEFT, RIGHT

    page = browser_page
    upload = f"/screening/patients/{patient.pk}/new/"

    def fill(page) -> None:
        page.set_input_files("input[name=right_eye]", str(RIGHT))
        page.set_input_files("input[name=left_eye]", str(LEFT))
        page.fill("textarea[name=notes]", "Patient blinked on the left.")

    errors = _end_and_send(page, settings, live_server, owner, password, upload, fill, "#predict-button")
    _sign_in_here(page, owner, password)
    page.wait_for_url(f"{live_server.url}{upload}")
    restored = page.locator(".draft-restored")
    restored.wait_for(state="visible", timeout=5_000)
    assert "Choose the photographs again" in restored.inner_text()
    assert page.locator("textarea[name=notes]").input_value() == "Patient blinked on the left."
    assert not Examination.objects.exists()
    assert errors == []


def _end_and_send(
    page, settings, live_server, user, password, path: str, fill, send: str = "main form button[type=submit]"
) -> list[str]:
    """Sign in with an 8-second idle timeout, open `path`, fill its form, let the session end, press `send`
    and land on the login page; returns the page's script errors."""
    settings.SESSION_COOKIE_AGE = 8
    errors = open_signed_in(page, live_server.url, user, password, path)
    fill(page)
    page.locator("#session-timeout .session-timeout-ended").wait_for(state="visible", timeout=15_000)
    page.click(send)
    page.wait_for_url("**/accounts/login/**")
    return errors


def _sign_in_here(page, user, password: str) -> None:
    """On the login page the kept form led to, sign in (the same user, or another)."""
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def _drafts(page) -> list[str]:
    return page.evaluate("Object.keys(sessionStorage).filter((key) => key.startsWith('dr-portal-draft:'))")


def test_a_draft_is_never_shown_to_another_user_and_is_removed(
    live_server, browser_page, owner, colleague, patient, password, settings
) -> None:
    """The second exploratory test: a staff member's typed record stayed in the tab for the next user."""
    page = browser_page
    edit = f"/patients/{patient.pk}/edit/"
    _end_and_send(page, settings, live_server, owner, password, edit, lambda p: p.fill("#id_first_name", "Typed"))
    assert len(_drafts(page)) == 1
    _sign_in_here(page, colleague, password)  # someone else signs in on that login page
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{live_server.url}{edit}")
    assert page.locator("#id_first_name").input_value() != "Typed"
    assert page.locator(".draft-restored").count() == 0
    assert _drafts(page) == []


def test_a_restored_edit_is_still_checked_against_the_version_it_was_typed_on(
    live_server, browser_page, owner, patient, password, settings
) -> None:
    """The kept hidden version: a correction typed before the end does not overwrite a change made since."""
    from patients.models import Patient

    page = browser_page
    edit = f"/patients/{patient.pk}/edit/"
    _end_and_send(page, settings, live_server, owner, password, edit, lambda p: p.fill("#id_first_name", "Typed"))
    # A colleague's correction in the meantime: a new version of the record.
    Patient.objects.filter(pk=patient.pk).update(first_name="Changed-meanwhile", updated_at=timezone.now())
    _sign_in_here(page, owner, password)
    page.wait_for_url(f"{live_server.url}{edit}")
    assert page.locator("#id_first_name").input_value() == "Typed"  # filled in again
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert Patient.objects.get(pk=patient.pk).first_name == "Changed-meanwhile"  # refused as a conflict


def test_signing_out_in_one_tab_ends_the_session_in_the_others(live_server, browser_page, owner, password) -> None:
    page = browser_page
    open_signed_in(page, live_server.url, owner, password, "/patients/")
    with page.expect_popup() as opened:  # a second tab of the same browser: it shares the storage
        page.evaluate("window.open('/patients/')")
    other = opened.value
    other.wait_for_load_state()
    other.click("header form button[type=submit]")  # Log out
    other.wait_for_url("**/accounts/login/**")
    page.locator("#session-timeout .session-timeout-ended").wait_for(state="visible", timeout=5_000)
