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


def _register(user, number: str, **changes: object) -> Patient:
    values = {"first_name": "Ada", "last_name": "Byron", "date_of_birth": dt.date(1970, 2, 3), "sex": "F"}
    return patient_create(user=user, medical_record_number=number, **(values | changes))


def test_a_number_differing_only_in_case_is_refused(owner, clinic) -> None:
    _register(owner, "QA-7")
    with pytest.raises(ValidationError) as caught:
        _register(owner, "qa-7")
    assert caught.value.message_dict == {"medical_record_number": [DUPLICATE_MRN]}
    assert Patient.objects.filter(clinic=clinic).count() == 1


def test_another_clinic_may_hold_the_same_number(owner, outsider) -> None:
    _register(owner, "QA-7")
    _register(outsider, "qa-7")
    assert Patient.objects.filter(medical_record_number__iexact="qa-7").count() == 2


def test_the_database_refuses_a_case_variant_too(clinic) -> None:
    PatientFactory.create(clinic=clinic, medical_record_number="MRN-abc")
    with pytest.raises(IntegrityError):
        PatientFactory.create(clinic=clinic, medical_record_number="mrn-ABC")


def test_a_correction_to_another_patients_number_in_other_case_is_refused(owner, clinic) -> None:
    PatientFactory.create(clinic=clinic, medical_record_number="TAKEN-9")
    mine = _register(owner, "MINE-1")
    with pytest.raises(ValidationError):
        patient_update(user=owner, patient=mine, medical_record_number="taken-9")
    mine.refresh_from_db()
    assert mine.medical_record_number == "MINE-1"


def test_a_patient_may_correct_the_case_of_their_own_number(owner) -> None:
    mine = _register(owner, "mine-1")
    _, changed = patient_update(user=owner, patient=mine, medical_record_number="MINE-1")
    assert changed == ["medical_record_number"]


def test_the_page_shows_the_refusal_beside_the_field(client, owner) -> None:
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
def test_the_api_refuses_characters_that_do_not_show(owner, field: str, value: str) -> None:
    api = APIClient()
    api.force_authenticate(owner)
    data = {"medical_record_number": "QA-8", "first_name": "Ada", "last_name": "Byron", "date_of_birth": "1970-02-03"}
    response = api.post("/api/v1/patients/", data | {"sex": "F", field: value}, format="json")
    assert response.status_code == 400
    assert "does not show" in response.json()[field][0]
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("CAF\u00c9-1", "CAFE\u0301-1"),  # one accented letter, or a letter and a combining accent
        ("TEST-1", "\uff34\uff25\uff33\uff34-1"),  # full-width letters
        ("T-116", "T\u2010116"),  # a typographic hyphen
        ("T-117", "T\u2212117"),  # a minus sign
    ],
)
def test_numbers_that_read_the_same_are_one_number(owner, clinic, first: str, second: str) -> None:
    _register(owner, first)
    with pytest.raises(ValidationError) as caught:
        _register(owner, second)
    assert caught.value.message_dict == {"medical_record_number": [DUPLICATE_MRN]}
    assert Patient.objects.filter(clinic=clinic).count() == 1


def test_a_number_is_stored_in_its_plain_form(owner) -> None:
    assert _register(owner, " \uff34\u2010116 ").medical_record_number == "T-116"
    assert _register(owner, "CAFE\u0301-2", first_name="Jose\u0301").first_name == "Jos\u00e9"


def test_a_name_of_nothing_that_shows_is_refused(owner) -> None:
    with pytest.raises(ValidationError) as caught:
        _register(owner, "QA-9", first_name="\u200b\u200b")
    assert caught.value.message_dict == {"first_name": ["Has no letter that shows: type the name again."]}
    # A zero-width non-joiner between letters belongs to the name (Persian, Indic scripts).
    assert _register(owner, "QA-10", last_name="\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645").pk


def test_the_admin_stores_and_checks_the_plain_form(admin_client, owner, clinic) -> None:
    _register(owner, "T-116")
    data = {"clinic": clinic.pk, "medical_record_number": "T\u2010116", "first_name": "B", "last_name": "C"}
    data |= {"date_of_birth": "1980-01-01", "sex": "F"}
    response = admin_client.post(reverse("admin:patients_patient_add"), data)
    assert response.status_code == 200 and DUPLICATE_MRN in response.content.decode()
    data["medical_record_number"] = "\uff34-118"
    assert admin_client.post(reverse("admin:patients_patient_add"), data).status_code == 302
    assert Patient.objects.filter(medical_record_number="T-118").exists()


def test_a_search_typed_in_another_form_finds_the_stored_one(owner) -> None:
    from patients.selectors import patient_list

    stored = _register(owner, "HX-1002", first_name="Zo\u00eb")
    for term in ("HX\u20101002", "\uff28X-1002", "Zoe\u0308"):  # another dash, a full-width letter, a separate accent
        assert list(patient_list(user=owner, search=term)) == [stored], term
