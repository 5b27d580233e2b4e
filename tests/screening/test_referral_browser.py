"""In Debian's chromium: the patient page of a referred patient says "Referral open since ...", never
"Next screening due", and a doctor closes the referral there with an outcome; staff see no such control."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from screening import reviews
from screening.models import Examination, ReferralClosure
from tests.examination_data import graded_examination

from .conftest import log_in

pytestmark = pytest.mark.browser


def _exam(patient, grades, days_ago):
    examination = graded_examination(patient=patient, grades=grades)
    Examination.objects.filter(pk=examination.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    examination.refresh_from_db()
    return examination


def test_a_doctor_closes_an_open_referral_on_the_patient_page(
    live_server, browser_page, owner, colleague, patient, password
) -> None:
    referred = _exam(patient, (2, 2), days_ago=400)
    reviews.review_create(user=colleague, examination=referred, right_grade=2, left_grade=2)
    newer = _exam(patient, (0, 0), days_ago=399)  # unreviewed "No DR": does not close the referral
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_server.url, owner.username, password)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    assert f"Referral open since {referred.created_at:%Y-%m-%d}" in page.inner_text("#referral-open")
    assert page.locator("#rescreening-due").count() == 0
    assert page.locator("#close-referral").count() == 0  # staff: no control
    page.context.clear_cookies()  # a fresh sign-in, as the doctor

    log_in(page, live_server.url, colleague.username, password)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    outcome = page.locator("#id_outcome")
    assert outcome.is_hidden()  # folded away until asked for
    page.click("#close-referral summary")
    outcome.fill("Seen at the eye clinic: PRP laser, back to yearly screening.")
    page.click("#close-referral button[type=submit]")

    page.wait_for_selector("#referral-closed")
    assert "Referral closed." in page.inner_text("main")
    assert "Seen at the eye clinic: PRP laser" in page.inner_text("#referral-closed")
    assert page.locator("#referral-open").count() == 0
    due = (newer.created_at + timedelta(days=365)).strftime("%Y-%m-%d")
    assert f"Next screening due {due}" in page.inner_text("#rescreening-due")
    closure = ReferralClosure.objects.get()
    assert (closure.closed_by, closure.examination) == (colleague, referred)
    assert errors == []
