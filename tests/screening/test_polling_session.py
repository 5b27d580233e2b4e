"""The result page's polling, in Debian's chromium, when the answers stop being the status document.

Before, a session that had ended (15 minutes idle) sent the status request to the login page; parsing
that as JSON failed, and the page retried every 3 seconds forever with nothing said to the user."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from screening.models import Examination, Status
from tests.examination_data import graded_examination

from .conftest import open_signed_in

pytestmark = pytest.mark.browser


@pytest.fixture
def queued(patient) -> Examination:
    """An examination still waiting for the worker (none runs here), so its page keeps polling."""
    examination = graded_examination(patient=patient)
    Examination.objects.filter(pk=examination.pk).update(status=Status.QUEUED, completed_at=None)
    return examination


@pytest.fixture
def result_page(live_server, browser_page, owner, password, queued):
    page = browser_page
    errors = open_signed_in(page, live_server.url, owner, password, f"/screening/examinations/{queued.pk}/")
    yield page
    assert errors == []


def _status_requests(page) -> list[str]:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url) if "/status/" in request.url else None)
    return requests


def test_an_ended_session_stops_the_polling_and_offers_to_log_in_again(
    live_server, result_page, owner, password, queued
) -> None:
    page = result_page
    with page.expect_response(lambda response: "/status/" in response.url and response.status == 200):
        pass  # the page polls, signed in
    # The idle timeout, as the session store sees it once 15 minutes have passed.
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    ended = page.locator("#poll-session-ended")
    ended.wait_for(state="visible", timeout=10_000)
    assert "Your session has ended" in ended.inner_text()
    assert page.locator("#poll-retrying").is_hidden()
    assert page.locator("#progress progress").is_hidden()  # no bar that looks busy for nothing
    requests = _status_requests(page)
    time.sleep(4)  # longer than the slowest polling interval (3 s)
    assert requests == [], "the page kept polling after the session ended"

    link = ended.locator("a")
    result = f"/screening/examinations/{queued.pk}/"
    assert link.get_attribute("href") == f"/accounts/login/?next={result}"
    link.click()
    page.fill("#id_username", owner.username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{result}")  # back on the result, polling again
    with page.expect_response(lambda response: "/status/" in response.url and response.status == 200):
        pass


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (401, "application/json", '{"detail": "Authentication credentials were not provided."}'),
        (403, "text/html", "<!doctype html><p>Not allowed</p>"),
        (200, "text/html", "<!doctype html><form>Log in</form>"),  # a page where the status should be
    ],
)
def test_refusals_and_pages_instead_of_the_status_stop_the_polling(
    result_page, status: int, content_type: str, body: str
) -> None:
    page = result_page
    page.route("**/status/", lambda route: route.fulfill(status=status, content_type=content_type, body=body))
    page.locator("#poll-session-ended").wait_for(state="visible", timeout=10_000)
    requests = _status_requests(page)
    time.sleep(4)
    assert requests == []


def test_a_lost_connection_and_server_errors_are_retried_with_a_note(result_page, queued) -> None:
    page = result_page
    note = page.locator("#poll-retrying")
    mode = {"answer": "503"}

    def answer(route) -> None:
        if mode["answer"] == "503":
            route.fulfill(status=503, content_type="text/html", body="<p>Service Unavailable</p>")
        elif mode["answer"] == "offline":
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/status/", answer)
    note.wait_for(state="visible", timeout=10_000)
    assert "Connection lost, retrying" in note.inner_text()
    mode["answer"] = "offline"
    with page.expect_request("**/status/", timeout=10_000):
        pass  # still asking
    assert note.is_visible()
    mode["answer"] = "server"
    with page.expect_response(lambda response: "/status/" in response.url and response.status == 200, timeout=10_000):
        pass
    note.wait_for(state="hidden", timeout=5_000)
    assert page.locator("#poll-session-ended").is_hidden() and page.locator("#poll-stopped").is_hidden()

    # And on to the grades once the worker is done, as before.
    Examination.objects.filter(pk=queued.pk).update(status=Status.DONE, completed_at=timezone.now())
    page.wait_for_selector("#graded-at", timeout=15_000)


def test_a_missing_examination_stops_the_polling_without_blaming_the_session(result_page) -> None:
    page = result_page
    page.route("**/status/", lambda route: route.fulfill(status=404, content_type="text/html", body="<p>Not found</p>"))
    page.locator("#poll-stopped").wait_for(state="visible", timeout=10_000)
    assert page.locator("#poll-session-ended").is_hidden()


def test_when_the_grades_come_the_focus_goes_to_the_outcome(result_page, queued) -> None:
    """A screen reader started again at the top of the reloaded page and never heard that grading was done."""
    page = result_page
    Examination.objects.filter(pk=queued.pk).update(status=Status.DONE, completed_at=timezone.now())
    page.wait_for_selector("#graded-at", timeout=15_000)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'progress'", timeout=5_000)
    assert "Graded" in page.evaluate("document.activeElement.textContent")
    page.reload()  # opened again later, it is a page like any other
    assert page.evaluate("document.activeElement.id") != "progress"
