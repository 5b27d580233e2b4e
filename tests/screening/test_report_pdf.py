"""The PDF report (screening/report_pdf.py; the page in report_views.py, the API in interop_api.py): the print
page rendered by WeasyPrint and read back with pypdf: status, local times, the answer first, each eye's grades
with what they mean, the photographs and heatmaps embedded from storage, the disclaimer and the signature."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timezone import localtime
from pypdf import PdfReader
from rest_framework.test import APIClient

from audit.models import AuditEvent
from patients.models import Patient
from screening import reviews, services
from screening.models import Examination, ReviewGrade, Status
from screening.referral import SEED_MESSAGE
from screening.validation import check_upload
from tests.dicom_files import dicom_photograph, dicom_upload
from tests.examination_data import graded_examination, prediction_for

from .conftest import LEFT, RIGHT

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Iterator[APIClient]:
    cache.clear()
    yield APIClient()
    cache.clear()


def _page_pdf(client: Client, user: Any, examination: Examination) -> PdfReader:
    client.force_login(user)
    response = client.get(reverse("screening:report_pdf", kwargs={"examination_id": examination.pk}))
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="dr-report-examination-{examination.pk}.pdf"'
    assert "no-store" in response["Cache-Control"]
    return PdfReader(io.BytesIO(response.content))


def _text(pdf: PdfReader) -> str:
    return " ".join(" ".join(page.extract_text() or "" for page in pdf.pages).split())


def _images(pdf: PdfReader) -> int:
    # WeasyPrint's pages share one resource dictionary: every page lists every image.
    return len({image.name for page in pdf.pages for image in page.images})


def _local(value: datetime) -> str:
    """A time as the report writes it: in the portal's time zone, in its DATETIME_FORMAT."""
    return date_format(localtime(value), "DATETIME_FORMAT")


def test_a_preliminary_report_says_so_and_gives_the_models_answer_first(
    client: Client, owner: Any, patient: Patient
) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0))
    before = timezone.now()
    pdf = _page_pdf(client, owner, examination)
    text = _text(pdf)
    for expected in (
        f"{patient.last_name}, {patient.first_name} · {patient.medical_record_number} · born 1960-05-17",
        "North Eye Clinic",
        "Preliminary: not reviewed by a doctor",
        f"Examination: {_local(examination.created_at)}",
        "Refer to an ophthalmologist Right eye: Mild-moderate NPDR (ICDR 1-2)",
        "The model's suggestion: not yet confirmed by a doctor.",
        "Right Mild: Mild-moderate NPDR (ICDR 1-2) not reviewed",
        "Left No DR: No DR (ICDR 0) not reviewed",
        "Heatmaps. Each photograph's heatmap shows where the model looked",
        "It is not a map of lesions.",
        "Disclaimer. DR Portal is a decision-support tool",
        "It does not replace a clinical eye examination",
        "Not signed off: a doctor has not reviewed this examination.",
        "Signature Name Date",
        "Page 1 of",
    ):
        assert expected in text, expected
    # Printed now, in local time (the minute may turn while the PDF renders).
    assert any(f"printed: {_local(moment)}" in text for moment in (before, timezone.now())), text
    assert text.index("Refer to an ophthalmologist") < text.index("Right eye Photograph")  # the answer first
    assert "Signed off by" not in text and "Model suggestion" not in text
    assert _images(pdf) == 4  # both photographs and both heatmaps


def test_a_signed_off_report_names_the_doctor_and_the_time_and_the_doctors_answer_leads(
    client: Client, owner: Any, named_doctor: Any, patient: Patient
) -> None:
    colleague = named_doctor
    examination = graded_examination(patient=patient, grades=(1, 0))
    review = reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    when = _local(review.signed_off_at)
    text = _text(_page_pdf(client, owner, examination))
    assert f"Signed off by Dr Ada Quist on {when}" in text
    assert "Preliminary" not in text
    assert "No referable DR: rescreen in 12 months Both eyes: No DR (ICDR 0)" in text
    assert "The doctor's decision, signed off by Dr Ada Quist." in text
    assert "Model suggestion: Refer to an ophthalmologist (Right eye: Mild-moderate NPDR (ICDR 1-2))" in text
    assert "Right Mild: Mild-moderate NPDR (ICDR 1-2) No DR: No DR (ICDR 0)" in text
    assert f"Signed off electronically by Dr Ada Quist on {when}." in text
    assert text.index("No referable DR") < text.index("Model suggestion") < text.index("Right eye Photograph")


def test_an_amended_report_says_it_was_amended(client: Client, owner: Any, colleague: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0))
    reviews.review_create(user=colleague, examination=examination, right_grade=0, left_grade=0)
    review = reviews.review_amend(
        user=colleague, examination=examination, right_grade=1, left_grade=0, notes="", reason="second look"
    )
    text = _text(_page_pdf(client, owner, examination))
    assert f"Signed off by Dr {colleague.username} on {_local(review.signed_off_at)} (amended)" in text


def test_a_doctors_ungradable_eye_makes_the_report_answer_retake(
    client: Client, owner: Any, named_doctor: Any, patient: Patient
) -> None:
    examination = graded_examination(patient=patient, grades=(1, 0))
    reviews.review_create(user=named_doctor, examination=examination, right_grade=ReviewGrade.UNGRADABLE, left_grade=0)
    text = _text(_page_pdf(client, owner, examination))
    assert "Photograph not gradable: retake Right eye photograph judged ungradable by the doctor" in text
    assert "Right Mild: Mild-moderate NPDR (ICDR 1-2) Ungradable photograph (retake)" in text
    assert SEED_MESSAGE not in text  # never beside a retake


@override_settings(TIME_ZONE="Europe/Berlin")
def test_times_are_local_to_the_portal(client: Client, owner: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient)
    text = _text(_page_pdf(client, owner, examination))
    local = examination.created_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"Examination: {date_format(local, 'DATETIME_FORMAT')}" in text
    utc = examination.created_at.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    assert f"Examination: {date_format(utc, 'DATETIME_FORMAT')}" not in text  # not the UTC time


def test_a_dicom_photograph_is_embedded_as_its_pixels(client: Client, owner: Any, patient: Patient) -> None:
    mrn = patient.medical_record_number
    examination = services.examination_create(
        user=owner,
        patient=patient,
        right_eye=dicom_upload(dicom_photograph(RIGHT, laterality="R", patient_id=mrn)),
        left_eye=dicom_upload(dicom_photograph(LEFT, laterality="L", patient_id=mrn, jpeg=True)),
    )
    for eye in examination.images.all():
        prediction_for(eye, 0).save()  # graded, without heatmaps
    Examination.objects.filter(pk=examination.pk).update(status=Status.DONE)
    pdf = _page_pdf(client, owner, examination)
    assert _images(pdf) == 2
    assert "No DR: No DR (ICDR 0)" in _text(pdf)


def test_a_truncated_photograph_is_still_refused_once_a_report_was_rendered(
    client: Client, owner: Any, patient: Patient
) -> None:
    # WeasyPrint's import tells Pillow to accept truncated images, process-wide: the upload check must not.
    _page_pdf(client, owner, graded_examination(patient=patient))
    whole = RIGHT.read_bytes()
    truncated = SimpleUploadedFile("eye.jpg", whole[: len(whole) // 2], content_type="image/jpeg")
    with pytest.raises(ValidationError, match="not a readable JPEG, PNG or DICOM photograph"):
        check_upload(truncated, eye="right")


def test_the_pdf_links_to_nothing_it_embeds(client: Client, owner: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient)
    client.force_login(owner)
    content = client.get(reverse("screening:report_pdf", kwargs={"examination_id": examination.pk})).content
    assert b"/eyes/" not in content and b"/media/" not in content


def test_the_api_answers_the_pdf_to_a_token_and_audits_it(api: APIClient, owner: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient)
    api.force_authenticate(owner)
    response = api.get(f"/api/v1/examinations/{examination.pk}/report.pdf", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "Preliminary: not reviewed by a doctor" in _text(PdfReader(io.BytesIO(response.content)))
    event = AuditEvent.objects.get(action="examination.report")
    assert (event.actor, event.patient, event.detail) == (owner, patient, {"channel": "api", "format": "pdf"})


def test_the_page_audits_the_pdf(client: Client, owner: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient)
    _page_pdf(client, owner, examination)
    assert AuditEvent.objects.get(action="examination.report").detail == {"format": "pdf"}


def test_an_examination_not_graded_has_no_report(client: Client, api: APIClient, owner: Any, patient: Patient) -> None:
    examination = graded_examination(patient=patient)
    Examination.objects.filter(pk=examination.pk).update(status=Status.QUEUED)
    api.force_authenticate(owner)
    response = api.get(f"/api/v1/examinations/{examination.pk}/report.pdf")
    assert response.status_code == 409
    assert (
        response.json()["detail"]
        == f"Examination {examination.pk} has not been graded (queued): there is no report to print yet."
    )
    client.force_login(owner)
    page = client.get(reverse("screening:report_pdf", kwargs={"examination_id": examination.pk}), follow=True)
    assert "there is no report to print yet" in page.content.decode()
    assert not AuditEvent.objects.filter(action="examination.report").exists()


def test_another_clinic_gets_404_and_a_stranger_the_login(
    client: Client, api: APIClient, outsider: Any, patient: Patient
) -> None:
    examination = graded_examination(patient=patient)
    url = reverse("screening:report_pdf", kwargs={"examination_id": examination.pk})
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    api.force_authenticate(outsider)
    assert api.get(f"/api/v1/examinations/{examination.pk}/report.pdf").status_code == 404
    api.force_authenticate(None)
    assert api.get(f"/api/v1/examinations/{examination.pk}/report.pdf").status_code == 401
