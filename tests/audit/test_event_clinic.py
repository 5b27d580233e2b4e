"""Which clinic an audit event shows under: the patient's, or else the acting user's."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import record_event

pytestmark = pytest.mark.django_db


def test_a_patient_list_read_shows_under_the_readers_clinic(client, owner, clinic) -> None:
    client.force_login(owner)
    client.get(reverse("patients:list"))
    api = APIClient()
    api.force_authenticate(owner)
    api.get("/api/v1/patients/")
    events = AuditEvent.objects.filter(action="patient.list")
    assert events.count() == 2 and {event.clinic_id for event in events} == {clinic.pk}


def test_an_event_about_a_patient_shows_under_the_patients_clinic(owner, patient) -> None:
    assert record_event(action="patient.view", actor=owner, obj=patient).clinic_id == patient.clinic_id


def test_a_user_of_no_clinic_leaves_the_clinic_empty(superuser) -> None:
    assert record_event(action="audit.list", actor=superuser).clinic_id is None
    assert record_event(action="auth.login_failed", username="nobody").clinic_id is None
