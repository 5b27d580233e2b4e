"""Through Debian's chromium (Playwright), a doctor's round: the worklist in order of urgency with the
patients linked, the confidence bars in each class's own colour, "Sign off and next" down the list and back
to an empty worklist; the statistics' intervals; "Grade these photographs" on the upload page."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from screening.models import Examination, Review
from tests.examination_data import graded_examination
from tests.factories import PatientFactory

from .conftest import open_signed_in

pytestmark = pytest.mark.browser

# The bars' colours (static/css/screening.css): green, amber, red.
COLOURS = {"no-dr": (0x1E, 0x7B, 0x34), "mild": (0xA8, 0x68, 0x00), "severe": (0xB3, 0x26, 0x1E)}


def _waiting(patient, grades: tuple[int, int], hours: float) -> Examination:
    examination = graded_examination(patient=patient, grades=grades)
    Examination.objects.filter(pk=examination.pk).update(completed_at=timezone.now() - timedelta(hours=hours))
    return examination


def _filled_colour(meter) -> tuple[int, int, int]:
    """The colour the bar is drawn in: the commonest pixel of its filled part (its left tenth)."""
    shot = Image.open(io.BytesIO(meter.screenshot())).convert("RGB")
    left = shot.crop((1, shot.height // 4, max(2, shot.width // 10), shot.height * 3 // 4))
    colours = left.getcolors(maxcolors=1 << 16) or []
    count, colour = max(colours, key=lambda pair: pair[0])
    assert isinstance(colour, tuple) and count > 0
    return (int(colour[0]), int(colour[1]), int(colour[2]))


def _close(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(colour, expected, strict=True))


def test_a_doctor_works_down_the_worklist_with_sign_off_and_next(
    live_server, browser_page, colleague, patient, clinic, password
) -> None:
    page = browser_page
    other = PatientFactory.create(clinic=clinic, last_name="Okafor", first_name="Ada")
    healthy = _waiting(patient, (0, 0), hours=48)  # the longest waiting, but nothing to refer
    mild = _waiting(other, (1, 0), hours=30)
    severe = _waiting(patient, (0, 2), hours=2)
    errors = open_signed_in(page, live_server.url, colleague, password, reverse("screening:worklist"))

    rows = page.locator(".worklist tbody tr")
    assert [rows.nth(i).get_attribute("data-examination") for i in range(3)] == [
        str(severe.pk),
        str(mild.pk),
        str(healthy.pk),
    ]
    assert "Severe NPDR or PDR (ICDR 3-4)" in rows.nth(0).inner_text()
    # The patient's name opens the patient's page.
    rows.nth(1).get_by_role("link", name="Okafor, Ada").click()
    page.wait_for_url(f"{live_server.url}{reverse('patients:detail', kwargs={'patient_id': other.pk})}")
    page.go_back()

    page.locator(f'.worklist tr[data-examination="{severe.pk}"]').get_by_role("link", name="Review").click()
    page.wait_for_url(f"{live_server.url}{reverse('screening:detail', kwargs={'examination_id': severe.pk})}#review")
    # The bars: each class in its own colour, not the browser's green for every class; the class's name beside.
    right = page.locator("#eye-right table.confidences")
    for tone, name in (
        ("no-dr", "No DR (ICDR 0)"),
        ("mild", "Mild-moderate NPDR (ICDR 1-2)"),
        ("severe", "Severe NPDR or PDR (ICDR 3-4)"),
    ):
        meter = page.locator("#eye-left").get_by_role("meter", name=name, exact=True)
        assert meter.get_attribute("class") == f"bar-{tone}"
        assert _close(_filled_colour(meter), COLOURS[tone]), (tone, _filled_colour(meter))
    assert right.locator("tr.predicted th").inner_text() == "No DR (ICDR 0)"
    page.screenshot(path=str(_artifacts() / "worklist-result-bars.png"), full_page=True)

    # Sign off and next: saved, and the next by urgency is open at its review.
    page.locator("#review input[name=right_grade][value='0']").check()
    page.locator("#review input[name=left_grade][value='2']").check()
    page.click("#sign-off-next")
    page.wait_for_url(f"{live_server.url}{reverse('screening:detail', kwargs={'examination_id': mild.pk})}#review")
    assert "This is the next examination on the worklist." in page.locator(".messages").inner_text()
    assert (Review.objects.get(examination=severe).right_grade, Review.objects.get(examination=severe).left_grade) == (
        0,
        2,
    )
    for examination in (mild, healthy):
        page.locator("#review input[name=right_grade][value='0']").check()
        page.locator("#review input[name=left_grade][value='0']").check()
        page.click("#sign-off-next")
        if examination is mild:
            page.wait_for_url(f"**{reverse('screening:detail', kwargs={'examination_id': healthy.pk})}#review")
    page.wait_for_url(f"{live_server.url}{reverse('screening:worklist')}")
    assert "Nothing else is waiting for review." in page.locator(".messages").inner_text()
    assert page.locator(".worklist tbody").inner_text().strip() == "Nothing to review."
    assert Review.objects.count() == 3
    assert errors == []


def test_the_statistics_show_intervals_and_a_small_sample_note(
    live_server, browser_page, colleague, patient, password
) -> None:
    page = browser_page
    from screening import reviews

    examination = _waiting(patient, (1, 0), hours=1)
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    errors = open_signed_in(page, live_server.url, colleague, password, reverse("screening:statistics"))
    assert page.locator("#sensitivity").inner_text().startswith("100% sensitivity, 95% CI 21 to 100%")
    assert "small sample" in page.locator("#sensitivity").inner_text()
    assert page.locator("#small-sample").is_visible()
    page.screenshot(path=str(_artifacts() / "statistics-intervals.png"), full_page=True)
    assert errors == []


def test_the_upload_button_says_what_it_does(live_server, browser_page, owner, patient, password) -> None:
    page = browser_page
    errors = open_signed_in(
        page, live_server.url, owner, password, reverse("screening:upload", kwargs={"patient_id": patient.pk})
    )
    assert page.get_by_role("button", name="Grade these photographs").is_visible()
    assert page.get_by_role("button", name="Predict").count() == 0
    assert errors == []


def _artifacts():
    from .test_browser import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
