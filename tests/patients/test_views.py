from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_it_redirects_anonymous_visitors_to_the_login_page(client, patient) -> None:
    response = client.get(reverse("patients:detail", args=[patient.pk]))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_a_user_of_another_clinic_gets_404_on_the_patient_page(client, patient, outsider) -> None:
    client.force_login(outsider)
    assert client.get(reverse("patients:detail", args=[patient.pk])).status_code == 404


def test_the_patient_list_shows_only_the_users_clinic(client, patient, outsider, other_clinic) -> None:
    theirs = PatientFactory.create(clinic=other_clinic, last_name="Elsewhere")
    client.force_login(outsider)
    body = client.get(reverse("patients:list")).content.decode()
    assert theirs.last_name in body
    assert patient.last_name not in body


def test_search_finds_a_patient_by_record_number_and_name(client, owner, clinic) -> None:
    PatientFactory.create(clinic=clinic, medical_record_number="RX-42", last_name="Quintero")
    PatientFactory.create(clinic=clinic, medical_record_number="RX-43", last_name="Abernathy")
    client.force_login(owner)
    by_mrn = client.get(reverse("patients:list"), {"q": "rx-42"}).content.decode()
    by_name = client.get(reverse("patients:list"), {"q": "abern"}).content.decode()
    assert "Quintero" in by_mrn and "Abernathy" not in by_mrn
    assert "Abernathy" in by_name and "Quintero" not in by_name


def test_staff_register_a_patient_in_their_own_clinic(client, owner, clinic) -> None:
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


def test_a_duplicate_record_number_is_a_field_error_and_saves_nothing(client, owner, patient) -> None:
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


def test_a_future_date_of_birth_is_refused(client, owner) -> None:
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


def test_a_user_without_a_clinic_cannot_register_patients(client, superuser) -> None:
    client.force_login(superuser)
    assert client.get(reverse("patients:create")).status_code == 403


# Correcting a patient's details: /patients/<id>/edit/


def _record(patient: Patient, **changes: str) -> dict[str, str]:
    """The form's data for the patient as stored, with some fields changed."""
    data = {
        "medical_record_number": patient.medical_record_number,
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
    }
    return data | changes


def _fields(patient: Patient) -> tuple[object, ...]:
    patient.refresh_from_db()
    return (patient.medical_record_number, patient.first_name, patient.last_name, patient.date_of_birth, patient.sex)


def test_the_patient_page_links_to_the_edit_form(client, owner, patient) -> None:
    client.force_login(owner)
    body = client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert f'href="{reverse("patients:update", args=[patient.pk])}"' in body
    assert "Edit details" in body


def test_the_edit_form_is_prefilled_with_the_stored_record(client, colleague, patient) -> None:
    client.force_login(colleague)
    response = client.get(reverse("patients:update", args=[patient.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert f'value="{patient.medical_record_number}"' in body
    assert f'value="{patient.last_name}"' in body
    assert 'value="1960-05-17"' in body


def test_staff_correct_a_name_and_the_correction_is_saved_and_audited(client, owner, patient) -> None:
    client.force_login(owner)
    response = client.post(reverse("patients:update", args=[patient.pk]), _record(patient, last_name="Lovelace"))
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:detail", args=[patient.pk])
    patient.refresh_from_db()
    assert patient.last_name == "Lovelace"
    event = AuditEvent.objects.get(action="patient.update")
    assert (event.actor, event.patient, event.detail) == (owner, patient, {"changed": ["last_name"]})


def test_a_form_opened_before_a_colleagues_correction_does_not_revert_it(client, owner, colleague, patient) -> None:
    import datetime as dt

    from patients.services import patient_update

    client.force_login(owner)
    opened = client.get(reverse("patients:update", args=[patient.pk]))
    version = opened.context["form"].initial["version"]
    assert f'<input type="hidden" name="version" value="{version}"' in opened.content.decode()
    # Meanwhile a colleague corrects the date of birth; this page still holds the old one in its fields.
    stored_before = _record(patient)
    patient_update(user=colleague, patient=patient, date_of_birth=dt.date(1961, 5, 17))

    response = client.post(
        reverse("patients:update", args=[patient.pk]),
        stored_before | {"last_name": "Lovelace", "version": version},
        follow=True,
    )

    assert response.redirect_chain == [(reverse("patients:update", args=[patient.pk]), 302)]
    assert "Someone changed these details after you opened the form." in response.content.decode()
    patient.refresh_from_db()
    assert (patient.date_of_birth, patient.last_name) == (dt.date(1961, 5, 17), stored_before["last_name"])
    assert AuditEvent.objects.filter(action="patient.update").count() == 1  # the colleague's only
    # The form now offers the current record and its version: the correction can be made again.
    assert response.context["form"].initial["date_of_birth"] == dt.date(1961, 5, 17)
    assert response.context["form"].initial["version"] != version


def test_a_record_number_of_another_patient_of_the_clinic_is_a_field_error_and_changes_nothing(
    client, owner, patient, clinic
) -> None:
    other = PatientFactory.create(clinic=clinic)
    before = _fields(patient)
    client.force_login(owner)
    data = _record(patient, medical_record_number=other.medical_record_number, first_name="Changed")
    response = client.post(reverse("patients:update", args=[patient.pk]), data)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'class="errors field-error"' in body and "already exists in your clinic" in body
    assert _fields(patient) == before
    assert not AuditEvent.objects.filter(action="patient.update").exists()


def test_a_record_number_used_in_another_clinic_is_free(client, owner, patient, other_clinic) -> None:
    theirs = PatientFactory.create(clinic=other_clinic)
    client.force_login(owner)
    data = _record(patient, medical_record_number=theirs.medical_record_number)
    assert client.post(reverse("patients:update", args=[patient.pk]), data).status_code == 302
    patient.refresh_from_db()
    assert patient.medical_record_number == theirs.medical_record_number


def test_a_future_date_of_birth_is_refused_on_correction(client, owner, patient) -> None:
    before = _fields(patient)
    client.force_login(owner)
    response = client.post(reverse("patients:update", args=[patient.pk]), _record(patient, date_of_birth="2999-01-01"))
    assert "in the future" in response.content.decode()
    assert _fields(patient) == before


def test_saving_the_form_unchanged_records_no_update(client, owner, patient) -> None:
    client.force_login(owner)
    response = client.post(reverse("patients:update", args=[patient.pk]), _record(patient))
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="patient.update").exists()


def test_another_clinics_patient_answers_404_on_the_edit_form(client, outsider, patient) -> None:
    before = _fields(patient)
    client.force_login(outsider)
    url = reverse("patients:update", args=[patient.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, _record(patient, last_name="Hijacked")).status_code == 404
    assert _fields(patient) == before


@pytest.mark.parametrize("role", ["clinic_admin", "superuser"])
def test_roles_that_may_not_register_patients_get_404_on_the_edit_form(client, request, role, patient) -> None:
    # As on the patient page: they may not see patients at all, so the page does not confirm one exists.
    client.force_login(request.getfixturevalue(role))
    before = _fields(patient)
    url = reverse("patients:update", args=[patient.pk])
    assert client.get(reverse("patients:create")).status_code == 403  # the registration rule, for comparison
    assert client.get(url).status_code == 404
    assert client.post(url, _record(patient, last_name="Changed")).status_code == 404
    assert _fields(patient) == before


def test_anonymous_visitors_of_the_edit_form_go_to_the_login_page(client, patient) -> None:
    response = client.get(reverse("patients:update", args=[patient.pk]))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
