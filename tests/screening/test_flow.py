"""The whole flow against a real worker process, Redis and PostgreSQL (no part of our stack stood in for)."""

from __future__ import annotations

import time

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from ml.checkpoint import read_card
from screening.grade_descriptions import description
from screening.models import Examination, Prediction, Status
from screening.referral import SEED_MESSAGE
from screening.selectors import examination_get, referral_for

from .conftest import LEFT, RIGHT, upload

pytestmark = pytest.mark.worker


def wait_for_grading(client, examination_id: int, timeout: float = 90.0) -> dict:
    url = reverse("screening:status", kwargs={"examination_id": examination_id})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(url).json()
        if status["finished"]:
            return status
        time.sleep(0.2)
    raise AssertionError(f"examination {examination_id} not graded within {timeout}s: {status}")


def test_an_upload_is_graded_by_the_worker_and_the_result_page_shows_it(
    grading_worker, grading_checkpoint, client, owner, patient
) -> None:
    client.force_login(owner)
    response = client.post(
        reverse("screening:upload", kwargs={"patient_id": patient.pk}),
        {"right_eye": upload(RIGHT), "left_eye": upload(LEFT), "notes": "annual screening"},
    )
    assert response.status_code == 302
    examination = Examination.objects.get()
    assert response["Location"] == reverse("screening:detail", kwargs={"examination_id": examination.pk})

    status = wait_for_grading(client, examination.pk)
    assert status == {"id": examination.pk, "status": "done", "finished": True, "error": None}

    examination.refresh_from_db()
    assert examination.status == Status.DONE and examination.completed_at is not None
    predictions = {p.eye_image.side: p for p in Prediction.objects.select_related("eye_image")}
    assert set(predictions) == {"right", "left"}
    for prediction in predictions.values():
        assert prediction.model_version == read_card(grading_checkpoint)["version"]
        assert default_storage.exists(prediction.heatmap.name)  # written by the worker, into the shared media

    html = client.get(reverse("screening:detail", kwargs={"examination_id": examination.pk})).content.decode()
    for prediction in predictions.values():
        assert f"data-label>{description(prediction.predicted_class)}</strong>" in html
    assert html.count("<meter") == 6
    assert html.count("data-heatmap") == 2
    referral = referral_for(examination_get(user=owner, examination_id=examination.pk))
    # The tiny untrained model is unsure of everything (near-uniform confidences), so the seed rule fires.
    assert referral["warning"] is True
    assert SEED_MESSAGE in html
