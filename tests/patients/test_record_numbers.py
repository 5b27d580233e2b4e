"""One patient, one record number: compared without regard to case, and holding nothing invisible.

Registering "qa-7" beside "QA-7" made two records of one patient (and invisible characters pasted in
through the API did the same); the page refused only the invisible ones.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.urls import reverse
from rest_framework.test import APIClient

from patients.models import Patient
from patients.services import DUPLICATE_MRN, patient_create, patient_update
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def _register(user, number: str, **changes: object) -> Patient:  # type: ignore[no-untyped-def]
    values = {"first_name": "Ada", "last_name": "Byron", "date_of_birth": dt.date(1970, 2, 3), "sex": "F"}
    return patient_create(user=user, medical_record_number=number, **(values | changes))


def test_a_number_differing_only_in_case_is_refused(owner, clinic) -> None:  # type: ignore[no-untyped-def]
    _register(owner, "QA-7")
    with pytest.raises(ValidationError) as caught:
        _register(owner, "qa-7")
    assert caught.value.message_dict == {"medical_record_number": [DUPLICATE_MRN]}
    assert Patient.objects.filter(clinic=clinic).count() == 1


def test_another_clinic_may_hold_the_same_number(owner, outsider) -> None:  # type: ignore[no-untyped-def]
    _register(owner, "QA-7")
    _register(outsider, "qa-7")
    assert Patient.objects.filter(medical_record_number__iexact="qa-7").count() == 2


def test_the_database_refuses_a_case_variant_too(clinic) -> None:  # type: ignore[no-untyped-def]
    PatientFactory(clinic=clinic, medical_record_number="MRN-abc")
    with pytest.raises(IntegrityError):
        PatientFactory(clinic=clinic, medical_record_number="mrn-ABC")


def test_a_correction_to_another_patients_number_in_other_case_is_refused(owner, clinic) -> None:  # type: ignore[no-untyped-def]
    PatientFactory(clinic=clinic, medical_record_number="TAKEN-9")
    mine = _register(owner, "MINE-1")
    with pytest.raises(ValidationError):
        patient_update(user=owner, patient=mine, medical_record_number="taken-9")
    mine.refresh_from_db()
    assert mine.medical_record_number == "MINE-1"


def test_a_patient_may_correct_the_case_of_their_own_number(owner) -> None:  # type: ignore[no-untyped-def]
    mine = _register(owner, "mine-1")
    _, changed = patient_update(user=owner, patient=mine, medical_record_number="MINE-1")
    assert changed == ["medical_record_number"]


def test_the_page_shows_the_refusal_beside_the_field(client, owner) -> None:  # type: ignore[no-untyped-def]
    _register(owner, "QA-7")
    client.force_login(owner)
    data = {"medical_record_number": "qa-7", "first_name": "A", "last_name": "B", "date_of_birth": "1970-01-01"}
    response = client.post(reverse("patients:create"), data | {"sex": "F"})
    assert response.status_code == 200
    assert response.context["form"].errors["medical_record_number"] == [DUPLICATE_MRN]


@pytest.mark.parametrize(
    ("field", "value"),
    [("medical_record_number", "QA\u200b-7"), ("first_name", "\u202eevil"), ("last_name", "By\u2067ron")],
)
def test_the_api_refuses_characters_that_do_not_show(owner, field: str, value: str) -> None:  # type: ignore[no-untyped-def]
    api = APIClient()
    api.force_authenticate(owner)
    data = {"medical_record_number": "QA-8", "first_name": "Ada", "last_name": "Byron", "date_of_birth": "1970-02-03"}
    response = api.post("/api/v1/patients/", data | {"sex": "F", field: value}, format="json")
    assert response.status_code == 400
    assert "does not show" in response.json()[field][0]
    assert not Patient.objects.exists()
