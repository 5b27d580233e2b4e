"""The amend form's hidden version field, refused (a tampered or garbled page), says so on the page: before,
the answer was a 400 with the form open and no message anywhere."""

from __future__ import annotations

import pytest
from django.urls import reverse

from screening import reviews
from screening.models import ReviewRevision
from tests.examination_data import graded_examination

pytestmark = pytest.mark.django_db


def test_a_refused_hidden_version_is_explained_and_nothing_is_amended(client, owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient, created_by=owner)
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    client.force_login(colleague)
    amend = {"right_grade": "0", "left_grade": "0", "reason": "A slip.", "revisions_seen": "-1"}
    response = client.post(reverse("screening:review_amend", args=[examination.pk]), amend)
    assert response.status_code == 400
    assert "This page could not be read back: reload it and make the amendment again." in response.content.decode()
    assert not ReviewRevision.objects.exists()


def test_the_amend_page_offers_ungradable_and_an_amendment_to_it_shows_on_every_page(
    client, owner, colleague, patient
) -> None:
    from screening.models import Review, ReviewGrade

    examination = graded_examination(patient=patient, created_by=owner, grades=(1, 0))
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    client.force_login(colleague)
    detail = reverse("screening:detail", args=[examination.pk])
    form = client.get(detail).content.decode().split('id="amend"')[1]
    assert '<option value="9">Ungradable photograph</option>' in form
    assert '<option value="1" selected>Mild-moderate NPDR (ICDR 1-2)</option>' in form
    amend = {
        "right_grade": "9",
        "left_grade": "0",
        "notes": "",
        "reason": "Too blurred after all.",
        "revisions_seen": 0,
    }
    response = client.post(reverse("screening:review_amend", args=[examination.pk]), amend)
    assert response.status_code == 302
    assert Review.objects.get().right_grade == ReviewGrade.UNGRADABLE
    page = client.get(detail).content.decode()
    assert 'data-answer="retake" data-source="doctor"' in page
    assert "Right eye: <strong>Ungradable photograph</strong>" in page
    # The history (its chart has no place for Ungradable on the grade scale) and the worklist answer, no 500.
    history = client.get(reverse("patients:detail", args=[patient.pk]))
    assert history.status_code == 200 and 'data-answer="retake" data-source="doctor"' in history.content.decode()
    assert client.get(reverse("screening:worklist")).status_code == 200
    assert client.get(reverse("screening:report_pdf", args=[examination.pk])).status_code == 200
