from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record_event

pytestmark = pytest.mark.django_db


def test_an_admin_change_to_a_patient_is_recorded_once_with_the_patient(client, superuser, patient) -> None:
    client.force_login(superuser)
    url = reverse("admin:patients_patient_change", args=[patient.pk])
    data = {
        "clinic": patient.clinic_id,
        "medical_record_number": patient.medical_record_number,
        "first_name": "Changed",
        "last_name": patient.last_name,
        "date_of_birth": "1960-05-17",
        "sex": "F",
    }
    assert client.post(url, data).status_code == 302
    event = AuditEvent.objects.get(action="admin.change")
    assert (event.actor, event.patient, event.object_type) == (superuser, patient, "patient")


def test_opening_a_patient_in_the_admin_is_recorded(client, superuser, patient) -> None:
    client.force_login(superuser)
    client.get(reverse("admin:patients_patient_change", args=[patient.pk]))
    assert AuditEvent.objects.filter(action="admin.view", patient=patient, actor=superuser).count() == 1


def test_the_admin_exports_the_filtered_trail_as_csv(client, superuser, owner, patient) -> None:
    record_event(action="patient.view", actor=owner, obj=patient)
    record_event(action="auth.login_failed", username="=HYPERLINK(1)")
    client.force_login(superuser)
    response = client.get(reverse("admin:audit_auditevent_export"), {"action__exact": "auth.login_failed"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["auth.login_failed"]
    assert rows[0]["username"] == "'=HYPERLINK(1)"  # no formula runs in a spreadsheet
    assert AuditEvent.objects.filter(action="audit.export", actor=superuser).count() == 1


def test_an_unknown_export_filter_is_a_400(client, superuser) -> None:
    client.force_login(superuser)
    assert client.get(reverse("admin:audit_auditevent_export"), {"nonsense": "1"}).status_code == 400


def test_clinic_users_cannot_export(client, owner) -> None:
    client.force_login(owner)
    response = client.get(reverse("admin:audit_auditevent_export"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_the_changelist_links_to_the_export(client, superuser) -> None:
    client.force_login(superuser)
    body = client.get(reverse("admin:audit_auditevent_changelist")).content.decode()
    assert reverse("admin:audit_auditevent_export") in body


def test_listing_patients_in_the_admin_is_recorded(client, superuser, patient) -> None:
    client.force_login(superuser)
    client.get(reverse("admin:patients_patient_changelist"), {"sex": "F"})
    event = AuditEvent.objects.get(action="admin.list")
    assert event.actor == superuser
    assert event.detail == {"model": "patients.patient", "query": {"sex": ["F"]}}


def test_deleting_a_patient_in_the_admin_keeps_no_name_on_the_trail(client, superuser, patient, clinic) -> None:
    client.force_login(superuser)
    response = client.post(reverse("admin:patients_patient_delete", args=[patient.pk]), {"post": "yes"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.delete")
    assert (event.object_type, event.object_id, event.patient_id, event.detail) == (
        "patient",
        str(patient.pk),
        patient.pk,
        {},
    )
    assert patient.last_name not in str(list(AuditEvent.objects.values_list("detail", flat=True)))
    # An account's or a clinic's text names no patient: it is kept, so the trail says what went.
    client.post(reverse("admin:auth_user_delete", args=[patient.created_by.pk]), {"post": "yes"})
    assert AuditEvent.objects.filter(action="admin.delete", detail__repr="owner").exists()
