"""The Django admin: superusers only, no clinical record added or deleted there, registration's rules on the
patient form, odd search input, and every page that shows patient data on the trail."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from patients.models import Membership, Patient
from screening import reviews
from screening.models import Examination, EyeImage, Prediction, Review, Status
from tests.examination_data import graded_examination
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("who", ["clinic_admin", "colleague"])
def test_a_clinic_user_with_staff_status_reaches_no_data_in_the_admin(client, request, who, patient) -> None:
    # The role groups carry model permissions; staff status alone must not turn them into admin access.
    user = request.getfixturevalue(who)
    user.is_staff = True
    user.save()
    client.force_login(user)
    urls = [
        reverse("admin:index"),
        reverse("admin:patients_patient_changelist"),
        reverse("admin:patients_patient_change", args=[patient.pk]),
        reverse("admin:screening_examination_changelist"),
        # The Clinic admin group's change_user would let them tick their own superuser flag.
        reverse("admin:auth_user_change", args=[user.pk]),
    ]
    for url in urls:
        # The site sends anyone but an active superuser to its login page (dr_portal/admin_site.py).
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


@pytest.mark.parametrize("model", ["examination", "eyeimage", "prediction", "review"])
def test_no_clinical_record_is_added_in_the_admin(admin_user_client, model) -> None:
    assert admin_user_client.get(reverse(f"admin:screening_{model}_add")).status_code == 403


def test_an_examination_without_photographs_cannot_be_made_in_the_admin(admin_user_client, patient) -> None:
    data = {"patient": patient.pk, "status": "done", "notes": "", "error": ""}
    inline = {"images-TOTAL_FORMS": 0, "images-INITIAL_FORMS": 0, "images-MIN_NUM_FORMS": 0}
    admin_user_client.post(reverse("admin:screening_examination_add"), {**data, **inline})
    assert not Examination.objects.exists()


def test_a_review_for_a_voided_examination_cannot_be_made_in_the_admin(admin_user_client, patient, superuser) -> None:
    examination = graded_examination(patient=patient)
    Examination.objects.filter(pk=examination.pk).update(
        voided_at=dt.datetime.now(dt.UTC), voided_by=superuser, void_reason="Wrong patient."
    )
    data = {"examination": examination.pk, "doctor": superuser.pk, "right_grade": 2, "left_grade": 0}
    data |= {"notes": "", "signed_off_at_0": "2020-01-01", "signed_off_at_1": "10:00:00"}
    data |= {"revisions-TOTAL_FORMS": 0, "revisions-INITIAL_FORMS": 0}
    assert admin_user_client.post(reverse("admin:screening_review_add"), data).status_code == 403
    assert not Review.objects.exists()


def test_a_prediction_no_model_made_cannot_be_added(admin_user_client, patient) -> None:
    eye = graded_examination(patient=patient).images.get(side="right")
    data = {"eye_image": eye.pk, "model_version": "typed", "checkpoint_sha256": "x", "predicted_class": 2}
    data |= {"confidence_no_dr": 0, "confidence_mild": 0, "confidence_proliferative": 1, "inference_seconds": 0}
    admin_user_client.post(reverse("admin:screening_prediction_add"), data)
    assert not Prediction.objects.filter(model_version="typed").exists()


@pytest.mark.parametrize("model", ["examination", "eyeimage", "prediction"])
def test_no_clinical_record_is_deleted_in_the_admin(admin_user_client, patient, model) -> None:
    examination = graded_examination(patient=patient)
    obj = {
        "examination": examination,
        "eyeimage": examination.images.first(),
        "prediction": Prediction.objects.filter(eye_image__examination=examination).first(),
    }[model]
    url = reverse(f"admin:screening_{model}_delete", args=[obj.pk])
    assert admin_user_client.post(url, {"post": "yes"}).status_code == 403
    assert (Examination.objects.count(), EyeImage.objects.count(), Prediction.objects.count()) == (1, 2, 2)


def test_a_signed_off_review_is_not_deleted_in_the_admin(admin_user_client, patient, colleague) -> None:
    examination = graded_examination(patient=patient)
    review = reviews.review_create(user=colleague, examination=examination, right_grade=1, left_grade=0)
    url = reverse("admin:screening_review_delete", args=[review.pk])
    assert admin_user_client.post(url, {"post": "yes"}).status_code == 403
    assert Review.objects.filter(pk=review.pk).exists()


def test_the_examination_form_changes_neither_patient_nor_grading_state(admin_user_client, patient, outsider) -> None:
    examination = graded_examination(patient=patient)
    Examination.objects.filter(pk=examination.pk).update(status=Status.FAILED)
    elsewhere = PatientFactory.create(clinic=outsider.membership.clinic)
    data = {"patient": elsewhere.pk, "status": "done", "notes": "checked", "error": "", "attempts": 0}
    data |= {"images-TOTAL_FORMS": 0, "images-INITIAL_FORMS": 0}
    response = admin_user_client.post(reverse("admin:screening_examination_change", args=[examination.pk]), data)
    assert response.status_code == 302
    examination.refresh_from_db()
    assert (examination.patient, examination.status, examination.notes) == (patient, Status.FAILED, "checked")


def test_saving_an_examinations_notes_leaves_a_grading_in_progress_alone(admin_user_client, patient) -> None:
    from screening.grading.attempts import attempt_claim, attempt_heartbeat

    examination = Examination.objects.create(patient=patient)
    attempt = attempt_claim(examination_id=examination.pk, task_id="worker-task")
    before = Examination.objects.values_list("status", "attempts", "heartbeat_at", "attempt_task_id").get(
        pk=examination.pk
    )
    data = {"notes": "called the patient", "heartbeat_at_0": "", "heartbeat_at_1": "", "attempt_task_id": "x"}
    data |= {"status": "queued", "attempts": "0", "images-TOTAL_FORMS": "0", "images-INITIAL_FORMS": "0"}
    response = admin_user_client.post(reverse("admin:screening_examination_change", args=[examination.pk]), data)
    assert response.status_code == 302
    after = Examination.objects.values_list("status", "attempts", "heartbeat_at", "attempt_task_id").get(
        pk=examination.pk
    )
    assert after == before
    assert attempt_heartbeat(attempt=attempt) is True  # the worker's attempt is still the current one
    assert Examination.objects.values_list("notes", flat=True).get(pk=examination.pk) == "called the patient"


def test_a_patient_stays_in_their_clinic(admin_user_client, patient, other_clinic) -> None:
    data = {"clinic": other_clinic.pk, "medical_record_number": patient.medical_record_number, "sex": "F"}
    data |= {"first_name": patient.first_name, "last_name": patient.last_name, "date_of_birth": "1960-05-17"}
    admin_user_client.post(reverse("admin:patients_patient_change", args=[patient.pk]), data)
    patient.refresh_from_db()
    assert patient.clinic_id != other_clinic.pk


def test_the_admin_patient_form_keeps_the_registration_rules(admin_user_client, patient) -> None:
    data = {"clinic": patient.clinic_id, "medical_record_number": patient.medical_record_number.swapcase()}
    data |= {"first_name": "Ann\u202e", "last_name": "Lee", "date_of_birth": "2999-01-01", "sex": "F"}
    response = admin_user_client.post(reverse("admin:patients_patient_add"), data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "already exists in your clinic" in body
    assert "The date of birth is in the future." in body
    assert "U+202E" in body
    assert "patient_mrn_unique_per_clinic_ci" not in body  # the portal's words, not the constraint's name
    assert Patient.objects.count() == 1


def test_memberships_are_not_edited_unaudited_on_the_clinic_page(admin_user_client, clinic, superuser) -> None:
    data = {"name": clinic.name, "memberships-TOTAL_FORMS": 1, "memberships-INITIAL_FORMS": 0}
    data |= {"memberships-0-user": superuser.pk, "memberships-0-role": "doctor"}
    admin_user_client.post(reverse("admin:patients_clinic_change", args=[clinic.pk]), data)
    assert not Membership.objects.filter(user=superuser).exists()


@pytest.mark.parametrize("field", ["user", "clinic"])
def test_an_autocomplete_term_with_a_nul_byte_is_no_500(admin_user_client, field) -> None:
    query = {"app_label": "patients", "model_name": "membership", "field_name": field, "term": "a\x00b"}
    assert admin_user_client.get(reverse("admin:autocomplete"), query).status_code == 200


@pytest.mark.parametrize("page", ["history", "delete"])
def test_a_patient_shown_on_its_history_or_delete_page_is_recorded(admin_user_client, superuser, patient, page) -> None:
    response = admin_user_client.get(reverse(f"admin:patients_patient_{page}", args=[patient.pk]))
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="admin.view")
    assert (event.actor, event.patient, event.detail) == (superuser, patient, {"page": page})


def test_a_change_form_shown_again_with_errors_is_recorded(admin_user_client, patient) -> None:
    data = {"medical_record_number": "", "first_name": "", "last_name": "", "date_of_birth": "", "sex": "F"}
    response = admin_user_client.post(reverse("admin:patients_patient_change", args=[patient.pk]), data)
    assert response.status_code == 200 and patient.last_name in response.content.decode()
    assert AuditEvent.objects.filter(action="admin.view", patient=patient).count() == 1


def test_reading_the_trail_in_the_admin_is_recorded(admin_user_client, superuser) -> None:
    admin_user_client.get(reverse("admin:audit_auditevent_changelist"), {"action__exact": "auth.login"})
    event = AuditEvent.objects.get(action="audit.list")
    assert event.actor == superuser
    assert event.detail == {"channel": "admin", "query": {"action__exact": ["auth.login"]}}
