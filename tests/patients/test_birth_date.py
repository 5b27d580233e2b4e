"""A date of birth that cannot be right (in the future, or a mistyped century) is refused everywhere."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from patients.models import Patient
from patients.services import ANCIENT_BIRTH, OLDEST_AGE_YEARS, birth_date_problem, patient_create, patient_update
from screening.bulk_import import UNKNOWN_DATE_OF_BIRTH

pytestmark = pytest.mark.django_db
TODAY = dt.date.today()


@pytest.mark.parametrize(
    ("born", "problem"),
    [
        (TODAY, None),
        (dt.date(TODAY.year - OLDEST_AGE_YEARS, 1, 1), None),
        (dt.date(TODAY.year - OLDEST_AGE_YEARS - 1, 12, 31), ANCIENT_BIRTH),
        (UNKNOWN_DATE_OF_BIRTH, None),  # the bulk import's placeholder
        (dt.date(1, 1, 1), ANCIENT_BIRTH),
        (TODAY + dt.timedelta(days=1), "The date of birth is in the future."),
    ],
)
def test_the_boundaries(born: dt.date, problem: str | None) -> None:
    assert birth_date_problem(born) == problem


def test_registration_refuses_a_mistyped_century(owner) -> None:
    with pytest.raises(ValidationError) as caught:
        patient_create(
            user=owner,
            medical_record_number="MRN-1066",
            first_name="Ada",
            last_name="Old",
            date_of_birth=dt.date(1066, 10, 14),
            sex="F",
        )
    assert caught.value.message_dict == {"date_of_birth": [ANCIENT_BIRTH]}
    assert not Patient.objects.filter(medical_record_number="MRN-1066").exists()


def test_a_correction_refuses_it_and_changes_nothing(owner, patient) -> None:
    before = patient.date_of_birth
    with pytest.raises(ValidationError):
        patient_update(user=owner, patient=patient, date_of_birth=dt.date(1800, 1, 1))
    patient.refresh_from_db()
    assert patient.date_of_birth == before


def test_the_page_and_the_api_show_the_message(owner, patient, client) -> None:
    client.force_login(owner)
    form = {"medical_record_number": "MRN-0001", "first_name": "A", "last_name": "B", "sex": "F"}
    page = client.post(reverse("patients:create"), {**form, "date_of_birth": "0001-01-01"})
    assert page.status_code == 200
    assert ANCIENT_BIRTH in page.content.decode()
    api = APIClient()
    api.force_authenticate(owner)
    response = api.patch(f"/api/v1/patients/{patient.pk}/", {"date_of_birth": "1800-01-01"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"date_of_birth": [ANCIENT_BIRTH]}
