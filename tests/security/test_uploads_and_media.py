"""Uploads are throttled on the web form as on the API, and photographs are never public files."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.throttling import ScopedRateThrottle

from screening.models import Examination
from tests.examination_data import graded_examination, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _two_uploads_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    cache.clear()
    monkeypatch.setattr(
        ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "uploads": "2/minute"}
    )


def _post(client, patient):
    files = {"right_eye": upload("r.png", (200, 30, 30)), "left_eye": upload("l.png", (30, 30, 200))}
    return client.post(reverse("screening:upload", args=[patient.pk]), files)


def test_the_upload_form_is_throttled_per_user(client, owner, colleague, patient) -> None:
    client.force_login(owner)
    assert [_post(client, patient).status_code for _ in range(3)] == [302, 302, 429]
    assert Examination.objects.count() == 2
    # The empty form still opens, and a colleague is not held up by someone else's uploads.
    assert client.get(reverse("screening:upload", args=[patient.pk])).status_code == 200
    client.force_login(colleague)
    assert _post(client, patient).status_code == 302


def test_the_web_form_and_the_api_share_one_counter(client, owner, patient) -> None:
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(owner)
    data = {"patient": patient.pk, "right_eye": upload("r.png", (1, 90, 9)), "left_eye": upload("l.png", (9, 9, 90))}
    assert api.post("/api/v1/examinations/", data, format="multipart").status_code == 202
    client.force_login(owner)
    assert _post(client, patient).status_code == 302
    assert _post(client, patient).status_code == 429


def test_an_oversized_request_is_refused_before_its_body_is_read(client, owner, patient, settings) -> None:
    settings.MAX_REQUEST_BYTES = 10_000
    client.force_login(owner)
    assert _post(client, patient).status_code == 413
    assert not Examination.objects.exists()


def test_the_request_cap_leaves_room_for_two_photographs_at_the_upload_cap(settings) -> None:
    from dr_portal.settings import base

    assert base.MAX_REQUEST_BYTES > 2 * base.UPLOAD_MAX_BYTES


def test_photographs_and_heatmaps_are_not_served_under_media(client, owner, patient) -> None:
    examination = graded_examination(patient=patient)
    eye = examination.images.get(side="right")
    client.force_login(owner)
    assert client.get(f"/media/{eye.file.name}").status_code == 404
    assert client.get(f"/media/{eye.predictions.get().heatmap.name}").status_code == 404
    # ...only through the permission-checked view.
    url = reverse("screening:eye_image", kwargs={"examination_id": examination.pk, "side": "right"})
    assert client.get(url).status_code == 200
