"""A DICOM pair graded end to end by a real worker process: the worker decodes the stored DICOM files'
pixels (screening/grading.py), grades both eyes and stores a heatmap per eye."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from patients.models import Patient
from screening.models import Examination, Prediction, Status
from tests.dicom_files import dicom_photograph, dicom_upload

from .conftest import LEFT, RIGHT
from .test_flow import wait_for_grading

pytestmark = pytest.mark.worker


def test_a_dicom_pair_uploaded_through_the_api_is_graded_by_the_worker(
    grading_worker: Any, client: Any, owner: Any, patient: Patient
) -> None:
    cache.clear()
    api = APIClient()
    api.force_authenticate(owner)
    mrn = patient.medical_record_number
    files = {
        "right_eye": dicom_upload(dicom_photograph(RIGHT, laterality="R", patient_id=mrn)),
        "left_eye": dicom_upload(dicom_photograph(LEFT, laterality="L", patient_id=mrn, jpeg=True)),
    }
    response = api.post("/api/v1/examinations/", {"patient": patient.pk, **files}, format="multipart")
    assert response.status_code == 202, response.content

    client.force_login(owner)
    status = wait_for_grading(client, response.json()["id"])
    assert status["status"] == "done", status
    examination = Examination.objects.get()
    assert examination.status == Status.DONE
    predictions = Prediction.objects.select_related("eye_image")
    assert {p.eye_image.side: p.eye_image.format for p in predictions} == {"right": "DICOM", "left": "DICOM"}
    for prediction in predictions:
        assert default_storage.exists(prediction.heatmap.name)
