"""The upload rate (429) and the request size cap (413): pages in the portal's layout for the web form
(bare text/plain documents before), the API's JSON answers unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from screening.models import Examination
from tests.examination_data import upload

pytestmark = pytest.mark.django_db

EXAMS = "/api/v1/examinations/"
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def _one_upload_a_minute(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Throttle counters live in the cache, which outlives a test; the rate is read into the class.
    cache.clear()
    monkeypatch.setattr(
        ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "uploads": "1/minute"}
    )
    yield
    cache.clear()


def _photos() -> dict[str, object]:
    return {"right_eye": upload("r.png", (200, 30, 30)), "left_eye": upload("l.png", (30, 30, 200))}


def _assert_portal_page(response, message: str) -> str:
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    assert message in page
    assert 'class="topbar"' in page and "/static/css/portal.css" in page.replace("\\", "/")  # the layout
    # The portal's policy, as on every page: no inline script or style.
    assert "script-src 'self'" in response["Content-Security-Policy"]
    return page


def test_an_upload_over_the_rate_gets_a_page_in_the_layout(owner, patient) -> None:
    client = Client()
    client.force_login(owner)
    url = reverse("screening:upload", args=[patient.pk])
    assert client.post(url, _photos()).status_code == 302
    response = client.post(url, _photos())
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 61
    page = _assert_portal_page(response, f"Too many uploads: try again in {wait} seconds.")
    assert reverse("password_change") in page  # the header of the signed-in user
    assert f'href="{url}"' in page  # back to the form, which opens (GETs are not counted)
    assert client.get(url).status_code == 200
    assert Examination.objects.count() == 1


def test_the_api_keeps_drf_json_429(owner, patient) -> None:
    api = APIClient()
    api.force_authenticate(owner)
    data = {"patient": patient.pk, **_photos()}
    assert api.post(EXAMS, data, format="multipart").status_code == 202
    response = api.post(EXAMS, {"patient": patient.pk, **_photos()}, format="multipart")
    assert (response.status_code, response["Content-Type"]) == (429, "application/json")
    assert list(response.json()) == ["detail"] and "throttled" in response.json()["detail"]
    assert "Retry-After" in response


def test_a_page_request_over_the_size_cap_gets_a_page_in_the_layout(owner, patient, settings) -> None:
    settings.MAX_REQUEST_BYTES = MB
    client = Client()
    client.force_login(owner)
    url = reverse("screening:upload", args=[patient.pk])
    response = client.post(url, b"x" * (MB + 1), content_type="application/octet-stream")
    assert response.status_code == 413
    page = _assert_portal_page(response, "The request is larger than 1 MB.")
    # Refused before the session is read, so the page names nobody and offers no form.
    assert owner.username not in page and "csrfmiddlewaretoken" not in page
    assert not Examination.objects.exists()


def test_the_api_keeps_its_json_413(owner, patient, settings) -> None:
    settings.MAX_REQUEST_BYTES = MB
    api = APIClient()
    api.force_authenticate(owner)
    response = api.post(EXAMS, b"x" * (MB + 1), content_type="application/octet-stream")
    assert (response.status_code, response["Content-Type"]) == (413, "application/json")
    assert response.json() == {"detail": "The request is larger than 1 MB."}
