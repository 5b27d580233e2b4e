"""Error answers: JSON under /api/, pages in the portal's layout elsewhere (Django's bare documents before)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_an_unknown_api_path_answers_json_404(owner) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(owner)
    for path in ("/api/v1/nothing-here/", "/api/v1/patients/-1/", "/api/v1/patients/abc/"):
        response = client.get(path)
        assert (response.status_code, response["Content-Type"]) == (404, "application/json")
        assert response.json() == {"detail": "Not found."}


def test_a_missing_page_is_shown_in_the_portal_layout(owner) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(owner)
    response = client.get(reverse("patients:detail", args=[999_999]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "There is no such page or record here." in page
    assert reverse("password_change") in page  # the header of a signed-in user: the layout is there


def test_a_refusal_page_gives_the_reason(clinic_admin) -> None:  # type: ignore[no-untyped-def]
    # A clinic admin manages accounts, not patients; the view's reason is shown, not a bare "Forbidden".
    client = Client()
    client.force_login(clinic_admin)
    response = client.get(reverse("patients:list"))
    assert response.status_code == 403
    assert "Only clinic staff and doctors can see patients." in response.content.decode()


@pytest.mark.urls("tests.dr_portal.crash_urls")
def test_a_crash_answers_a_page_or_json_without_details() -> None:
    client = Client(raise_request_exception=False)
    page = client.get("/crash/")
    assert page.status_code == 500
    assert "the fault has been logged" in page.content.decode()
    assert "deliberate" not in page.content.decode()
    api = client.get("/api/v1/crash/")
    assert (api.status_code, api["Content-Type"]) == (500, "application/json")
    assert "deliberate" not in api.json()["detail"]
