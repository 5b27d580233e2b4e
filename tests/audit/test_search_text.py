"""A search's text never reaches the audit trail, which can be neither edited nor erased: only the fact of
a search and how many records it matched (the patient list on the page and the API, the Django admin's
lists, the trail's own list and export)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

NAME = "Quintero"


@pytest.fixture
def searched_patient(clinic):
    PatientFactory(clinic=clinic, last_name="Other")
    return PatientFactory(clinic=clinic, last_name=NAME)


def _trail_text() -> str:
    return " ".join(str(values) for values in AuditEvent.objects.values_list("detail", "username", "user_agent"))


def test_the_patient_page_search_keeps_the_fact_and_count_not_the_name(client, owner, searched_patient) -> None:
    client.force_login(owner)
    assert NAME in client.get(reverse("patients:list"), {"q": NAME.lower()}).content.decode()
    client.get(reverse("patients:list"))
    searched, plain = AuditEvent.objects.filter(action="patient.list").order_by("id")
    assert searched.detail == {"searched": True, "count": 1, "page": 1, "due": False}
    assert plain.detail == {"searched": False, "count": 2, "page": 1, "due": False}
    assert NAME.lower() not in _trail_text().lower()


def test_the_api_search_keeps_the_fact_and_count_not_the_name(owner, searched_patient) -> None:
    api = APIClient()
    api.force_authenticate(owner)
    assert api.get("/api/v1/patients/", {"search": NAME}).json()["count"] == 1
    event = AuditEvent.objects.get(action="patient.list")
    assert event.detail == {"channel": "api", "searched": True, "count": 1, "page": 1, "due": False}
    assert NAME.lower() not in _trail_text().lower()


def test_the_admins_searches_keep_the_fact_and_count_not_the_text(client, superuser, searched_patient) -> None:
    client.force_login(superuser)
    client.get(reverse("admin:patients_patient_changelist"), {"q": NAME, "sex": "F"})
    client.get(reverse("admin:audit_auditevent_changelist"), {"q": NAME})
    client.get(reverse("admin:audit_auditevent_export"), {"q": NAME})
    listed = AuditEvent.objects.get(action="admin.list")
    assert listed.detail == {"model": "patients.patient", "query": {"sex": ["F"]}, "searched": True, "count": 1}
    assert AuditEvent.objects.get(action="audit.list").detail == {"channel": "admin", "searched": True, "count": 0}
    assert AuditEvent.objects.get(action="audit.export").detail == {"filters": {}, "searched": True, "count": None}
    assert NAME.lower() not in _trail_text().lower()
