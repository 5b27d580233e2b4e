"""Every screening page that shows patient data leaves an audit event, also when it is shown again for a
refused form."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from screening import reviews
from tests.examination_data import graded_examination

pytestmark = pytest.mark.django_db


def test_the_upload_form_which_names_the_patient_is_audited_as_a_view(client, owner, patient) -> None:
    client.force_login(owner)
    url = reverse("screening:upload", kwargs={"patient_id": patient.pk})
    body = client.get(url).content.decode()
    assert patient.medical_record_number in body
    event = AuditEvent.objects.get(action="patient.view")
    assert (event.actor, event.patient, event.detail) == (owner, patient, {"form": "upload"})
    # Refused (no photographs): the page names the patient again, and is recorded again.
    assert client.post(url, {"notes": ""}).status_code == 400
    assert AuditEvent.objects.filter(action="patient.view", patient=patient).count() == 2


def test_a_refused_review_shows_the_result_page_again_and_audits_that_view(client, owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient, created_by=owner)
    client.force_login(colleague)
    response = client.post(reverse("screening:review", args=[examination.pk]), {"right_grade": "7"})
    assert response.status_code == 400
    assert patient.last_name in response.content.decode()
    event = AuditEvent.objects.get(action="examination.view")
    assert (event.actor, event.patient, event.object_id) == (colleague, patient, str(examination.pk))
    assert event.detail == {"form": "review", "refused": True}


def test_a_refused_void_and_amendment_audit_the_page_they_show(client, owner, colleague, patient) -> None:
    examination = graded_examination(patient=patient, created_by=owner)
    reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    client.force_login(colleague)
    assert client.post(reverse("screening:void", args=[examination.pk]), {"reason": " "}).status_code == 400
    amend = {"right_grade": "1", "left_grade": "1", "reason": ""}
    assert client.post(reverse("screening:review_amend", args=[examination.pk]), amend).status_code == 400
    details = list(AuditEvent.objects.filter(action="examination.view").order_by("id").values_list("detail", flat=True))
    assert details == [{"form": "void", "refused": True}, {"form": "amend", "refused": True}]
