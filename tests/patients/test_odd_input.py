"""Odd input on the patient pages, as a clinic user (or a mistyped link) sends it: never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_a_search_with_a_nul_byte_lists_patients_not_a_500(client, owner, clinic) -> None:
    PatientFactory.create(clinic=clinic, medical_record_number="RX-42", last_name="Quintero")
    client.force_login(owner)
    response = client.get(reverse("patients:list"), {"q": "Quin\x00tero"})
    assert response.status_code == 200
    assert "Quintero" in response.content.decode()
    assert AuditEvent.objects.get(action="patient.list").detail["count"] == 1


def test_a_refused_correction_shows_the_record_again_and_audits_that_view(client, owner, patient, clinic) -> None:
    PatientFactory.create(clinic=clinic, medical_record_number="TAKEN-1")
    client.force_login(owner)
    url = reverse("patients:update", args=[patient.pk])
    form = client.get(url).context["form"]
    data = {**form.initial, "medical_record_number": "TAKEN-1", "date_of_birth": "1960-05-17"}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "already exists" in response.content.decode() and patient.last_name in response.content.decode()
    views = AuditEvent.objects.filter(action="patient.view", patient=patient, detail={"form": "update"})
    assert views.count() == 2  # the form opened, and the form shown again beside the refusal


def _register(client, **changes: str):
    data = {
        "medical_record_number": "QA-7",
        "first_name": "Ada",
        "last_name": "Byron",
        "date_of_birth": "1970-02-03",
        "sex": "F",
    }
    return client.post(reverse("patients:create"), data | changes)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("medical_record_number", "QA\u200b-7"),  # zero-width space: the same on screen as QA-7
        ("medical_record_number", "\ufeffQA-7"),  # byte-order mark, pasted from a spreadsheet export
        ("medical_record_number", "QA-\u00ad7"),  # soft hyphen
        ("first_name", "\u202eevil"),  # shown as "live"
        ("last_name", "By\u2067ron"),
    ],
)
def test_a_character_that_does_not_show_is_refused_beside_its_field(client, owner, clinic, field, value) -> None:
    PatientFactory.create(clinic=clinic, medical_record_number="QA-7")
    client.force_login(owner)
    response = _register(client, **({"medical_record_number": "QA-8"} | {field: value}))
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert "does not show" in errors[field][0]
    assert Patient.objects.count() == 1


def test_a_persian_name_with_a_zero_width_non_joiner_is_accepted(client, owner) -> None:
    client.force_login(owner)
    response = _register(client, first_name="\u0645\u0647\u200c\u0646\u0627\u0632")
    assert response.status_code == 302
    assert Patient.objects.get().first_name == "\u0645\u0647\u200c\u0646\u0627\u0632"


def test_a_correction_with_a_pasted_invisible_character_is_refused(client, owner, patient) -> None:
    client.force_login(owner)
    url = reverse("patients:update", args=[patient.pk])
    data = {**client.get(url).context["form"].initial, "date_of_birth": "1960-05-17"}
    response = client.post(url, data | {"medical_record_number": f"{patient.medical_record_number}\u200b"})
    assert list(response.context["form"].errors) == ["medical_record_number"]
    patient.refresh_from_db()
    assert "\u200b" not in patient.medical_record_number
