"""Bad and unusual input on the API: each answers a clear 4xx and loses nothing, never a 500; every
answer that shows patient data leaves an audit event; nothing is kept that the trail could not record."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError

from audit.models import AuditEvent
from patients.models import Patient
from screening.models import Examination, EyeImage, Review
from tests.examination_data import graded_examination, upload

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


def test_json_nested_too_deeply_is_a_400_on_every_route_that_reads_json(api, colleague, patient) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(colleague)
    for method, url in _json_routes(patient, examination):
        response = api.generic(method.upper(), url, DEEP_JSON, content_type="application/json")
        assert response.status_code == 400, (method, url, response.content)
        assert "nested too deeply" in response.json()["detail"]
    assert not Review.objects.exists() and Examination.objects.get().voided_at is None


# --- OPTIONS on the interactive page ---------------------------------------------------------------------


def test_options_on_the_api_docs_page_answers_its_methods_not_a_500(api, owner) -> None:
    api.force_login(owner)
    response = api.options("/api/v1/docs/")
    assert response.status_code == 200
    assert "GET" in response["Allow"]


# --- If-Match -------------------------------------------------------------------------------------------


def _etag(api, patient: Patient) -> str:
    return api.get(f"{PATIENTS}{patient.pk}/")["ETag"]


@pytest.mark.parametrize("if_match", ['""', "W/", "", "garbage", 'W/""'])
def test_an_empty_or_malformed_if_match_is_a_412_never_an_unguarded_write(api, owner, patient, if_match) -> None:
    api.force_authenticate(owner)
    response = api.patch(f"{PATIENTS}{patient.pk}/", {"first_name": "Changed"}, format="json", HTTP_IF_MATCH=if_match)
    assert response.status_code == 412, response.content
    patient.refresh_from_db()
    assert patient.first_name != "Changed"
    assert not AuditEvent.objects.filter(action="patient.update").exists()


def test_an_if_match_listing_the_current_etag_among_others_lets_the_change_through(api, owner, patient) -> None:
    api.force_authenticate(owner)
    listed = f'"2001-01-01T00:00:00+00:00", W/{_etag(api, patient)}'
    response = api.patch(f"{PATIENTS}{patient.pk}/", {"first_name": "Changed"}, format="json", HTTP_IF_MATCH=listed)
    assert response.status_code == 200, response.content
    patient.refresh_from_db()
    assert patient.first_name == "Changed"


def test_if_match_star_and_no_if_match_still_let_the_change_through(api, owner, patient) -> None:
    api.force_authenticate(owner)
    assert api.patch(f"{PATIENTS}{patient.pk}/", {"first_name": "One"}, format="json").status_code == 200
    response = api.patch(f"{PATIENTS}{patient.pk}/", {"first_name": "Two"}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.first_name == "Two"


# --- a PATCH that changes nothing still shows the record ------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"nickname": "x"}, "same name"])
def test_a_patch_that_changes_nothing_is_audited_as_a_read(api, owner, patient, body) -> None:
    body = {"first_name": patient.first_name} if body == "same name" else body
    api.force_authenticate(owner)
    response = api.patch(f"{PATIENTS}{patient.pk}/", body, format="json")
    assert response.status_code == 200
    assert response.json()["last_name"] == patient.last_name  # the whole record is in the answer
    [event] = AuditEvent.objects.filter(patient=patient)
    assert (event.action, event.actor, event.detail) == ("patient.view", owner, {"channel": "api", "changed": []})


# --- a form field sent twice on upload ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["right_eye", "left_eye", "patient", "notes"])
def test_an_upload_field_sent_twice_is_a_400_naming_it_and_nothing_is_saved(api, owner, patient, field) -> None:
    data = {
        "patient": patient.pk,
        "right_eye": upload("r.png", (200, 30, 30)),
        "left_eye": upload("l.png", (30, 30, 200)),
        "notes": "first visit",
    }
    twice = {
        "right_eye": [data["right_eye"], upload("l2.png", (30, 30, 200))],
        "left_eye": [data["left_eye"], upload("r2.png", (200, 30, 30))],
        "patient": [patient.pk, patient.pk],
        "notes": ["one", "two"],
    }
    api.force_authenticate(owner)
    response = api.post(EXAMS, {**data, field: twice[field]}, format="multipart")
    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    assert not Examination.objects.exists()


def test_an_empty_file_and_a_bad_one_are_both_named_in_one_answer(api, owner, patient) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {
        "patient": patient.pk,
        "right_eye": SimpleUploadedFile("r.jpg", b"this is text, not a photograph", "image/jpeg"),
        "left_eye": SimpleUploadedFile("l.jpg", b"", "image/jpeg"),
    }
    api.force_authenticate(owner)
    response = api.post(EXAMS, data, format="multipart")
    assert response.status_code == 400, response.content
    body = response.json()
    # Before, the empty file was refused first, alone, and the right eye's problem went unreported.
    assert set(body) == {"right_eye", "left_eye"}
    assert body["left_eye"] == ["The left eye's file is empty."]
    assert not Examination.objects.exists()


# --- nothing kept that the audit trail could not record --------------------------------------------------


def _stored_files() -> set[Path]:
    return {path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()}


@pytest.mark.django_db(transaction=True)
def test_a_registration_the_trail_cannot_record_is_not_kept(api, owner, audit_refuses) -> None:
    audit_refuses("patient.create")
    api.force_authenticate(owner)
    with pytest.raises(DatabaseError):
        api.post(PATIENTS, {**NEW, "sex": "F"}, format="json")
    assert not Patient.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_upload_the_trail_cannot_record_is_not_kept_nor_its_photographs(api, owner, patient, audit_refuses) -> None:
    before = _stored_files()
    audit_refuses("examination.create")
    api.force_authenticate(owner)
    data = {"patient": patient.pk, "right_eye": upload("r.png", (9, 99, 9)), "left_eye": upload("l.png", (99, 9, 9))}
    with pytest.raises(DatabaseError):
        api.post(EXAMS, data, format="multipart")
    assert not Examination.objects.exists() and not EyeImage.objects.exists()
    assert _stored_files() == before


@pytest.mark.django_db(transaction=True)
def test_a_sign_off_the_trail_cannot_record_is_not_kept(api, colleague, patient, audit_refuses) -> None:
    examination = graded_examination(patient=patient)
    audit_refuses("review.create")
    api.force_authenticate(colleague)
    with pytest.raises(DatabaseError):
        api.post(f"{EXAMS}{examination.pk}/review/", {"right_grade": 0, "left_grade": 0}, format="json")
    assert not Review.objects.exists()
