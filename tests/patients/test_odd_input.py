"""Odd input on the patient pages, as a clinic user (or a mistyped link) sends it: never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_a_search_with_a_nul_byte_lists_patients_not_a_500(client, owner, clinic) -> None:  # type: ignore[no-untyped-def]
    PatientFactory(clinic=clinic, medical_record_number="RX-42", last_name="Quintero")
    client.force_login(owner)
    response = client.get(reverse("patients:list"), {"q": "Quin\x00tero"})
    assert response.status_code == 200
    assert "Quintero" in response.content.decode()
    assert AuditEvent.objects.get(action="patient.list").detail["search"] == "Quintero"


def test_a_refused_correction_shows_the_record_again_and_audits_that_view(client, owner, patient, clinic) -> None:  # type: ignore[no-untyped-def]
    PatientFactory(clinic=clinic, medical_record_number="TAKEN-1")
    client.force_login(owner)
    url = reverse("patients:update", args=[patient.pk])
    form = client.get(url).context["form"]
    data = {**form.initial, "medical_record_number": "TAKEN-1", "date_of_birth": "1960-05-17"}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "already exists" in response.content.decode() and patient.last_name in response.content.decode()
    views = AuditEvent.objects.filter(action="patient.view", patient=patient, detail={"form": "update"})
    assert views.count() == 2  # the form opened, and the form shown again beside the refusal
