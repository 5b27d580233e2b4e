from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from patients.models import Patient
from screening.models import Examination
from tests.examination_data import graded_examination
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/patients/"
NEW = {
    "medical_record_number": "API-1",
    "first_name": "Ada",
    "last_name": "Byron",
    "date_of_birth": "1970-02-03",
    "sex": "F",
}


def test_it_lists_only_the_callers_clinic_paginated(api, owner, patient, other_clinic) -> None:
    PatientFactory.create(clinic=other_clinic)
    api.force_authenticate(owner)
    body = api.get(LIST).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 1
    assert body["results"][0]["id"] == patient.pk
    assert body["results"][0]["medical_record_number"] == patient.medical_record_number


def test_search_filters_by_record_number_and_name(api, owner, clinic) -> None:
    PatientFactory.create(clinic=clinic, medical_record_number="RX-42", last_name="Quintero")
    PatientFactory.create(clinic=clinic, medical_record_number="RX-43", last_name="Abernathy")
    api.force_authenticate(owner)
    assert [p["last_name"] for p in api.get(LIST, {"search": "rx-42"}).json()["results"]] == ["Quintero"]
    assert [p["last_name"] for p in api.get(LIST, {"search": "abern"}).json()["results"]] == ["Abernathy"]


def test_a_search_with_a_nul_character_is_a_400_not_a_500(api, owner) -> None:
    api.force_authenticate(owner)
    response = api.get(LIST, {"search": "a\x00b"})
    assert response.status_code == 400
    assert "search" in response.json()


def test_pages_beyond_the_last_answer_404(api, owner, patient) -> None:
    api.force_authenticate(owner)
    assert api.get(LIST, {"page": 9}).status_code == 404


def test_staff_register_a_patient_in_their_clinic(api, owner, clinic) -> None:
    api.force_authenticate(owner)
    response = api.post(LIST, NEW, format="json")
    assert response.status_code == 201, response.content
    patient = Patient.objects.get(pk=response.json()["id"])
    assert patient.clinic == clinic and patient.created_by == owner
    assert response.json()["date_of_birth"] == "1970-02-03"


def test_a_duplicate_record_number_is_a_clear_400(api, owner, patient) -> None:
    api.force_authenticate(owner)
    response = api.post(LIST, {**NEW, "medical_record_number": patient.medical_record_number}, format="json")
    assert response.status_code == 400
    assert "medical_record_number" in response.json()


def test_the_same_record_number_is_free_in_another_clinic(api, outsider, patient) -> None:
    api.force_authenticate(outsider)
    response = api.post(LIST, {**NEW, "medical_record_number": patient.medical_record_number}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("date_of_birth", (dt.date.today() + dt.timedelta(days=1)).isoformat()),
        ("date_of_birth", "not-a-date"),
        ("sex", "X"),
        ("medical_record_number", ""),
        ("first_name", "x" * 101),
        ("last_name", "nul\x00byte"),
    ],
)
def test_bad_fields_are_a_400_naming_the_field(api, owner, field, value) -> None:
    api.force_authenticate(owner)
    response = api.post(LIST, {**NEW, field: value}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Patient.objects.exists()


def test_a_malformed_json_body_is_a_400(api, owner) -> None:
    api.force_authenticate(owner)
    response = api.generic("POST", LIST, "{not json", content_type="application/json")
    assert response.status_code == 400


def test_one_patient_answers_with_its_fields(api, colleague, patient) -> None:
    api.force_authenticate(colleague)
    body = api.get(f"{LIST}{patient.pk}/").json()
    assert body["id"] == patient.pk and body["last_name"] == patient.last_name


def test_another_clinics_patient_answers_404(api, outsider, patient) -> None:
    api.force_authenticate(outsider)
    assert api.get(f"{LIST}{patient.pk}/").status_code == 404


def test_an_id_beyond_the_database_range_answers_404(api, owner) -> None:
    api.force_authenticate(owner)
    assert api.get(f"{LIST}{10**30}/").status_code == 404


def test_clinic_admins_see_no_patients(api, clinic_admin, patient) -> None:
    api.force_authenticate(clinic_admin)
    assert api.get(LIST).status_code == 403
    assert api.post(LIST, NEW, format="json").status_code == 403
    assert api.get(f"{LIST}{patient.pk}/").status_code == 404


def test_anonymous_callers_get_401(api, patient) -> None:
    assert api.get(LIST).status_code == 401
    assert api.get(f"{LIST}{patient.pk}/").status_code == 401


def test_reads_and_writes_are_audited_with_the_channel(api, owner, patient) -> None:
    api.force_authenticate(owner)
    api.get(f"{LIST}{patient.pk}/")
    event = AuditEvent.objects.get(action="patient.view")
    assert (event.actor, event.patient, event.detail["channel"]) == (owner, patient, "api")


def test_due_for_rescreening_filters_the_list_as_the_page_does(api, owner, clinic) -> None:
    def examined(days_ago: int, grades: tuple[int, int]) -> Patient:
        patient = PatientFactory.create(clinic=clinic)
        examination = graded_examination(patient=patient, grades=grades, created_by=owner)
        Examination.objects.filter(pk=examination.pk).update(created_at=timezone.now() - dt.timedelta(days=days_ago))
        return patient

    due, referred, recent = examined(400, (0, 0)), examined(400, (1, 0)), examined(30, (0, 0))
    api.force_authenticate(owner)
    listed = {p["id"] for p in api.get(LIST, {"due_for_rescreening": "true"}).json()["results"]}
    assert listed == {due.pk}
    assert {p["id"] for p in api.get(LIST).json()["results"]} == {due.pk, referred.pk, recent.pk}
    assert api.get(LIST, {"due_for_rescreening": "maybe"}).status_code == 400


def test_a_patient_with_an_open_referral_is_not_due_through_the_api_until_a_doctor_closes_it(
    api, owner, colleague, clinic
) -> None:
    from screening import closures

    patient = PatientFactory.create(clinic=clinic)
    referred = graded_examination(patient=patient, grades=(2, 2))
    newer = graded_examination(patient=patient, grades=(0, 0))  # unreviewed "No DR", newest
    for examination, days_ago in ((referred, 401), (newer, 400)):
        Examination.objects.filter(pk=examination.pk).update(created_at=timezone.now() - dt.timedelta(days=days_ago))
    api.force_authenticate(owner)
    assert api.get(LIST, {"due_for_rescreening": "true"}).json()["results"] == []
    closures.referral_close(user=colleague, patient=patient, through=referred.pk, outcome="Seen, discharged.")
    assert [p["id"] for p in api.get(LIST, {"due_for_rescreening": "true"}).json()["results"]] == [patient.pk]


# PATCH /api/v1/patients/<id>/: correcting a patient's details


def _stored(patient: Patient) -> tuple[object, ...]:
    patient.refresh_from_db()
    return (patient.medical_record_number, patient.first_name, patient.last_name, patient.date_of_birth, patient.sex)


def _updates() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="patient.update"))


def test_staff_correct_a_name_and_the_correction_is_saved_and_audited_with_the_channel(api, owner, patient) -> None:
    api.force_authenticate(owner)
    response = api.patch(f"{LIST}{patient.pk}/", {"first_name": "Augusta"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["first_name"] == "Augusta"
    assert response.json()["last_name"] == patient.last_name  # fields not sent keep their values
    patient.refresh_from_db()
    assert patient.first_name == "Augusta"
    [event] = _updates()
    assert (event.actor, event.patient) == (owner, patient)
    assert event.detail == {"channel": "api", "changed": ["first_name"]}


def test_a_patch_with_a_stale_if_match_is_a_412_and_changes_nothing(api, owner, colleague, patient) -> None:
    api.force_authenticate(owner)
    read = api.get(f"{LIST}{patient.pk}/")
    etag = read["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    # A colleague corrects the record after this client read it.
    api.force_authenticate(colleague)
    assert api.patch(f"{LIST}{patient.pk}/", {"first_name": "Augusta"}, format="json").status_code == 200

    api.force_authenticate(owner)
    stale = api.patch(f"{LIST}{patient.pk}/", {"first_name": "Ada"}, format="json", HTTP_IF_MATCH=etag)

    assert stale.status_code == 412
    assert "Someone changed these details" in stale.json()["detail"]
    patient.refresh_from_db()
    assert patient.first_name == "Augusta" and len(_updates()) == 1
    current = api.get(f"{LIST}{patient.pk}/")["ETag"]
    assert current != etag
    done = api.patch(f"{LIST}{patient.pk}/", {"first_name": "Ada"}, format="json", HTTP_IF_MATCH=f"W/{current}")
    assert done.status_code == 200 and done["ETag"] != current


def test_a_record_number_of_another_patient_of_the_clinic_is_a_400_and_changes_nothing(
    api, colleague, patient, clinic
) -> None:
    other = PatientFactory.create(clinic=clinic)
    before = _stored(patient)
    api.force_authenticate(colleague)
    body = {"medical_record_number": other.medical_record_number, "first_name": "Changed"}
    response = api.patch(f"{LIST}{patient.pk}/", body, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["medical_record_number"][0]
    assert _stored(patient) == before
    assert _updates() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("date_of_birth", "not-a-date"),
        ("date_of_birth", (dt.date.today() + dt.timedelta(days=1)).isoformat()),
        ("sex", "X"),
        ("medical_record_number", "   "),
        ("last_name", "x" * 101),
    ],
)
def test_a_bad_field_is_a_400_naming_it_and_changes_nothing(api, owner, patient, field, value) -> None:
    before = _stored(patient)
    api.force_authenticate(owner)
    response = api.patch(f"{LIST}{patient.pk}/", {"first_name": "Changed", field: value}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert _stored(patient) == before
    assert _updates() == []


def test_another_clinics_patient_answers_404_to_a_patch(api, outsider, patient) -> None:
    before = _stored(patient)
    api.force_authenticate(outsider)
    assert api.patch(f"{LIST}{patient.pk}/", {"last_name": "Hijacked"}, format="json").status_code == 404
    assert _stored(patient) == before


def test_roles_that_may_not_register_patients_cannot_correct_them(api, clinic_admin, superuser, patient) -> None:
    before = _stored(patient)
    for user in (clinic_admin, superuser):
        api.force_authenticate(user)
        assert api.post(LIST, NEW, format="json").status_code == 403  # the registration rule
        # A patient they may not see answers 404, as GET does: the API does not confirm it exists.
        assert api.patch(f"{LIST}{patient.pk}/", {"last_name": "Changed"}, format="json").status_code == 404
    assert _stored(patient) == before


def test_anonymous_callers_get_401_to_a_patch(api, patient) -> None:
    assert api.patch(f"{LIST}{patient.pk}/", {"last_name": "Changed"}, format="json").status_code == 401


def test_unknown_and_read_only_fields_are_ignored_as_on_registration(api, owner, patient, other_clinic) -> None:
    before = _stored(patient)
    api.force_authenticate(owner)
    body = {"clinic": other_clinic.pk, "id": patient.pk + 1000, "created_by": None, "nickname": "x"}
    response = api.patch(f"{LIST}{patient.pk}/", body, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == patient.pk
    assert _stored(patient) == before
    assert patient.clinic_id != other_clinic.pk
    assert _updates() == []


def test_a_patch_that_changes_nothing_records_no_update(api, owner, patient) -> None:
    api.force_authenticate(owner)
    response = api.patch(f"{LIST}{patient.pk}/", {"last_name": f"  {patient.last_name} "}, format="json")
    assert response.status_code == 200
    assert _updates() == []


def test_the_schema_documents_the_partial_update(api_schema) -> None:
    schema = api_schema
    operation = schema["paths"]["/api/v1/patients/{patient_id}/"]["patch"]
    assert operation["operationId"] == "patients_partial_update"
    assert set(operation["responses"]) >= {"200", "400"}
