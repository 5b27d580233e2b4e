"""While an examination waits for its grades, the result page says how long since the upload and, past
GRADING_SLOW_AFTER_SECONDS, that the grading is taking longer than usual and the examination is safe."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from screening.models import Examination, Status
from screening.waiting import SLOW_MESSAGE, duration_text
from tests.examination_data import graded_examination

from .conftest import open_signed_in
from .test_browser import ARTIFACTS


def _waiting(patient, *, status: str = Status.QUEUED, age: timedelta = timedelta(0)) -> Examination:
    examination = graded_examination(patient=patient)
    Examination.objects.filter(pk=examination.pk).update(
        status=status, completed_at=None, created_at=timezone.now() - age
    )
    return examination


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0 s"), (59, "59 s"), (60, "1 min 0 s"), (125, "2 min 5 s"), (3725, "1 h 2 min")]
)
def test_the_wait_is_said_in_seconds_minutes_and_hours(seconds: int, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.QUEUED, Status.RUNNING])
def test_a_long_wait_is_said_on_the_page_as_it_loads(client, owner, patient, settings, status) -> None:
    settings.GRADING_SLOW_AFTER_SECONDS = 60
    examination = _waiting(patient, status=status, age=timedelta(minutes=3, seconds=4))
    client.force_login(owner)
    html = client.get(reverse("screening:detail", args=[examination.pk])).content.decode()
    assert re.search(r'id="progress-elapsed"[^>]*>Uploaded 3 min [45] s ago\.<', html)
    assert f">{SLOW_MESSAGE}</p>" in html


@pytest.mark.django_db
def test_a_short_wait_says_only_how_long(client, owner, patient, settings) -> None:
    settings.GRADING_SLOW_AFTER_SECONDS = 60
    examination = _waiting(patient, age=timedelta(seconds=10))
    client.force_login(owner)
    html = client.get(reverse("screening:detail", args=[examination.pk])).content.decode()
    assert "Uploaded 1" in html  # 10 or 11 s
    assert f">{SLOW_MESSAGE}<" not in html


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.DONE, Status.FAILED])
def test_a_finished_examination_says_nothing_of_waiting(client, owner, patient, status) -> None:
    examination = _waiting(patient, status=status, age=timedelta(hours=2))
    client.force_login(owner)
    html = client.get(reverse("screening:detail", args=[examination.pk])).content.decode()
    assert "progress-elapsed" not in html and SLOW_MESSAGE not in html


@pytest.mark.browser
def test_the_page_counts_on_and_says_when_the_grading_takes_longer_than_usual(
    live_server, browser_page, owner, patient, password, settings
) -> None:
    settings.GRADING_SLOW_AFTER_SECONDS = 3
    examination = _waiting(patient)  # no worker runs here: it stays queued
    page = browser_page
    errors = open_signed_in(page, live_server.url, owner, password, reverse("screening:detail", args=[examination.pk]))
    elapsed = page.locator("#progress-elapsed")
    slow = page.locator("#progress-slow")
    assert elapsed.inner_text() in ("Uploaded 0 s ago.", "Uploaded 1 s ago.", "Uploaded 2 s ago.")
    assert slow.is_hidden() and slow.inner_text() == ""
    assert slow.get_attribute("role") == "status"  # announced when its words come

    page.wait_for_function("() => document.getElementById('progress-slow').textContent !== ''", timeout=10_000)
    assert slow.is_visible() and slow.inner_text() == SLOW_MESSAGE
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screening-grading-slow.png"))
    seconds = int(re.fullmatch(r"Uploaded (\d+) s ago\.", elapsed.inner_text()).group(1))
    assert seconds >= 3
    page.wait_for_function(
        f"() => document.getElementById('progress-elapsed').textContent !== 'Uploaded {seconds} s ago.'"
    )
    assert page.locator("#progress-message").inner_text() == "Queued for grading…"  # still polling, still queued
    assert errors == []
