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
