from __future__ import annotations

import pytest
from django.urls import reverse

from patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_it_redirects_anonymous_visitors_to_the_login_page(client, patient) -> None:  # type: ignore[no-untyped-def]
    response = client.get(reverse("patients:detail", args=[patient.pk]))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_a_user_of_another_clinic_gets_404_on_the_patient_page(client, patient, outsider) -> None:  # type: ignore[no-untyped-def]
    client.force_login(outsider)
    assert client.get(reverse("patients:detail", args=[patient.pk])).status_code == 404


def test_the_patient_list_shows_only_the_users_clinic(client, patient, outsider, other_clinic) -> None:  # type: ignore[no-untyped-def]
    theirs = PatientFactory(clinic=other_clinic, last_name="Elsewhere")
    client.force_login(outsider)
    body = client.get(reverse("patients:list")).content.decode()
    assert theirs.last_name in body
    assert patient.last_name not in body


def test_search_finds_a_patient_by_record_number_and_name(client, owner, clinic) -> None:  # type: ignore[no-untyped-def]
    PatientFactory(clinic=clinic, medical_record_number="RX-42", last_name="Quintero")
    PatientFactory(clinic=clinic, medical_record_number="RX-43", last_name="Abernathy")
    client.force_login(owner)
    by_mrn = client.get(reverse("patients:list"), {"q": "rx-42"}).content.decode()
    by_name = client.get(reverse("patients:list"), {"q": "abern"}).content.decode()
    assert "Quintero" in by_mrn and "Abernathy" not in by_mrn
    assert "Abernathy" in by_name and "Quintero" not in by_name


def test_staff_register_a_patient_in_their_own_clinic(client, owner, clinic) -> None:  # type: ignore[no-untyped-def]
    client.force_login(owner)
    response = client.post(
        reverse("patients:create"),
        {
            "medical_record_number": "NEW-1",
            "first_name": "Ada",
            "last_name": "Byron",
            "date_of_birth": "1970-02-03",
            "sex": "F",
        },
    )
    created = Patient.objects.get(medical_record_number="NEW-1")
    assert response.status_code == 302
    assert created.clinic == clinic and created.created_by == owner


def test_a_duplicate_record_number_is_a_field_error_and_saves_nothing(client, owner, patient) -> None:  # type: ignore[no-untyped-def]
    client.force_login(owner)
    data = {
        "medical_record_number": patient.medical_record_number,
        "first_name": "Dup",
        "last_name": "Licate",
        "date_of_birth": "1970-02-03",
        "sex": "M",
    }
    response = client.post(reverse("patients:create"), data)
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Patient.objects.count() == 1


def test_a_future_date_of_birth_is_refused(client, owner) -> None:  # type: ignore[no-untyped-def]
    client.force_login(owner)
    data = {
        "medical_record_number": "F-1",
        "first_name": "A",
        "last_name": "B",
        "date_of_birth": "2999-01-01",
        "sex": "F",
    }
    response = client.post(reverse("patients:create"), data)
    assert "in the future" in response.content.decode()
    assert not Patient.objects.filter(medical_record_number="F-1").exists()


def test_a_user_without_a_clinic_cannot_register_patients(client, superuser) -> None:  # type: ignore[no-untyped-def]
    client.force_login(superuser)
    assert client.get(reverse("patients:create")).status_code == 403
