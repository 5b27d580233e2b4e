"""Bad and unusual input on the API: each answers a clear 4xx and loses nothing, never a 500; every
answer that shows patient data leaves an audit event; nothing is kept that the trail could not record."""

from __future__ import annotations

import pytest

from patients.models import Patient
from screening.models import Examination, Review
from tests.examination_data import graded_examination

pytestmark = pytest.mark.django_db

PATIENTS = "/api/v1/patients/"
EXAMS = "/api/v1/examinations/"
NEW = {"medical_record_number": "BAD-1", "first_name": "Ada", "last_name": "Byron", "date_of_birth": "1970-02-03"}
# Far deeper than Python's json module recurses (about a thousand levels): a few kilobytes of brackets.
DEEP_JSON = "[" * 5000 + "]" * 5000


# --- JSON nested too deeply -------------------------------------------------------------------------


def _json_routes(patient: Patient, examination: Examination) -> list[tuple[str, str]]:
    exam = f"{EXAMS}{examination.pk}/"
    return [
        ("post", "/api/v1/auth/token/"),
        ("post", PATIENTS),
        ("patch", f"{PATIENTS}{patient.pk}/"),
        ("post", f"{exam}review/"),
        ("post", f"{exam}review/amend/"),
        ("post", f"{exam}void/"),
    ]


def test_json_nested_too_deeply_is_a_400_on_every_route_that_reads_json(api, colleague, patient) -> None:  # type: ignore[no-untyped-def]
    examination = graded_examination(patient=patient)
    api.force_authenticate(colleague)
    for method, url in _json_routes(patient, examination):
        response = api.generic(method.upper(), url, DEEP_JSON, content_type="application/json")
        assert response.status_code == 400, (method, url, response.content)
        assert "nested too deeply" in response.json()["detail"]
    assert not Review.objects.exists() and Examination.objects.get().voided_at is None


# --- OPTIONS on the interactive page ---------------------------------------------------------------------


def test_options_on_the_api_docs_page_answers_its_methods_not_a_500(api) -> None:  # type: ignore[no-untyped-def]
    response = api.options("/api/v1/docs/")
    assert response.status_code == 200
    assert "GET" in response["Allow"]
