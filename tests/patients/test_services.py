"""patient_update: the one write behind the edit page and PATCH /api/v1/patients/<id>/."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from audit.models import AuditEvent
from patients.services import StalePatientUpdate, patient_update, patient_version
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_it_saves_the_given_fields_and_audits_their_names_only(owner, patient) -> None:
    updated, changed = patient_update(user=owner, patient=patient, first_name="Ada", date_of_birth=dt.date(1961, 1, 2))
    assert changed == ["first_name", "date_of_birth"]
    patient.refresh_from_db()
    assert (patient.first_name, patient.date_of_birth) == ("Ada", dt.date(1961, 1, 2))
    assert updated.pk == patient.pk
    event = AuditEvent.objects.get(action="patient.update")
    # No personal data on the trail: the names of the fields, not their old or new values.
    assert event.detail == {"changed": ["first_name", "date_of_birth"]}
    assert (event.actor, event.patient, event.clinic_id) == (owner, patient, patient.clinic_id)


def test_it_keeps_fields_not_given(owner, patient) -> None:
    before = (patient.medical_record_number, patient.first_name, patient.date_of_birth, patient.sex)
    patient_update(user=owner, patient=patient, last_name="Lovelace")
    patient.refresh_from_db()
    assert (patient.medical_record_number, patient.first_name, patient.date_of_birth, patient.sex) == before


def test_nothing_changed_saves_nothing_and_records_no_event(owner, patient) -> None:
    updated_at = patient.updated_at
    _, changed = patient_update(
        user=owner,
        patient=patient,
        first_name=f" {patient.first_name} ",
        medical_record_number=patient.medical_record_number,
    )
    assert changed == []
    patient.refresh_from_db()
    assert patient.updated_at == updated_at
    assert not AuditEvent.objects.exists()


def test_a_duplicate_record_number_in_the_clinic_is_a_field_error_and_rolls_back(owner, patient, clinic) -> None:
    other = PatientFactory.create(clinic=clinic)
    with pytest.raises(ValidationError) as refused:
        patient_update(
            user=owner, patient=patient, first_name="Changed", medical_record_number=other.medical_record_number
        )
    assert "medical_record_number" in refused.value.message_dict
    patient.refresh_from_db()
    assert patient.first_name != "Changed"
    assert not AuditEvent.objects.exists()


def test_every_bad_field_is_named_at_once(owner, patient) -> None:
    with pytest.raises(ValidationError) as refused:
        patient_update(user=owner, patient=patient, last_name=" ", sex="X", date_of_birth=dt.date(2999, 1, 1))
    assert set(refused.value.message_dict) == {"last_name", "sex", "date_of_birth"}


@pytest.mark.parametrize("who", ["outsider", "clinic_admin", "superuser"])
def test_a_patient_the_user_may_not_see_answers_404(request, who, patient) -> None:
    with pytest.raises(Http404):
        patient_update(user=request.getfixturevalue(who), patient=patient, last_name="Changed")
    patient.refresh_from_db()
    assert patient.last_name != "Changed"


def test_a_correction_on_an_older_version_is_refused_and_changes_nothing(owner, colleague, patient) -> None:
    seen = patient_version(patient)
    patient_update(user=colleague, patient=patient, first_name="Augusta")
    with pytest.raises(StalePatientUpdate):
        patient_update(user=owner, patient=patient, first_name="Ada", version=seen)
    patient.refresh_from_db()
    assert patient.first_name == "Augusta"
    assert AuditEvent.objects.filter(action="patient.update").count() == 1
    # On the current version it goes through.
    patient_update(user=owner, patient=patient, first_name="Ada", version=patient_version(patient))
    patient.refresh_from_db()
    assert patient.first_name == "Ada"
