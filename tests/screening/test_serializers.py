"""The examination document has one writer, ExaminationOutputSerializer: what a page or an export renders
with it is what the API answers."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from screening import reviews, selectors
from screening.serializers import ExaminationOutputSerializer
from tests.examination_data import graded_examination

pytestmark = pytest.mark.django_db


def test_the_serializer_writes_the_document_the_api_answers(owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0))
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=1)
    api = APIClient()
    api.force_authenticate(owner)
    answered = api.get(f"/api/v1/examinations/{examination.pk}/").json()
    read = selectors.examination_get(user=owner, examination_id=examination.pk)
    written = ExaminationOutputSerializer(read, context={"request": RequestFactory().get("/")}).data
    assert written == answered
    assert written["review"]["recommendation"] == "refer"
    assert written["eyes"]["right"]["image_url"].startswith("http://testserver/api/v1/examinations/")
