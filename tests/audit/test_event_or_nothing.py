"""On the pages too, a write the audit trail cannot record is not kept (the API's tests are in
tests/api/test_bad_input_api.py): before, the page committed the patient, examination, sign-off or
account first and wrote its event afterwards, so a failing insert left the change with no trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from patients.models import Membership, Patient, Role
from screening.models import Examination, Review
from tests.examination_data import graded_examination, upload

pytestmark = pytest.mark.django_db(transaction=True)


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_a_registration(owner, audit_refuses) -> None:
    audit_refuses("patient.create")
    data = {"medical_record_number": "MRN-5", "first_name": "A", "last_name": "B", "date_of_birth": "1970-01-01"}
    response = _client(owner).post(reverse("patients:create"), data | {"sex": "F"})
    assert response.status_code == 500
    assert not Patient.objects.filter(medical_record_number="MRN-5").exists()


def test_an_upload_and_its_photographs(owner, patient, audit_refuses) -> None:
    before = {path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()}
    audit_refuses("examination.create")
    data = {"right_eye": upload("r.png", (9, 99, 9)), "left_eye": upload("l.png", (99, 9, 9)), "notes": ""}
    response = _client(owner).post(reverse("screening:upload", args=[patient.pk]), data)
    assert response.status_code == 500
    assert not Examination.objects.exists()
    assert {path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()} == before


def test_a_sign_off(colleague, patient, audit_refuses) -> None:
    examination = graded_examination(patient=patient)
    audit_refuses("review.create")
    url = reverse("screening:review", args=[examination.pk])
    response = _client(colleague).post(url, {"right_grade": 0, "left_grade": 0, "notes": ""})
    assert response.status_code == 500
    assert not Review.objects.exists()


def test_an_account(clinic_admin, owner, audit_refuses) -> None:
    password = "another-long-password-77"
    audit_refuses("account.create")
    data = {"username": "newdoc", "email": "", "role": "doctor", "password": password, "password_again": password}
    assert _client(clinic_admin).post(reverse("patients:account_create"), data).status_code == 500
    assert not get_user_model().objects.filter(username="newdoc").exists()


def test_a_change_of_role(clinic_admin, owner, audit_refuses) -> None:
    role = Membership.objects.get(user=owner).role
    audit_refuses("account.update")
    url = reverse("patients:account_update", args=[owner.pk])
    response = _client(clinic_admin).post(
        url, {"role": Role.DOCTOR if role != Role.DOCTOR else Role.STAFF, "is_active": "on", "new_password": ""}
    )
    assert response.status_code == 500
    assert Membership.objects.get(user=owner).role == role
