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
