"""Error answers: JSON under /api/, pages in the portal's layout elsewhere (Django's bare documents before)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_an_unknown_api_path_answers_json_404(owner) -> None:
    client = Client()
    client.force_login(owner)
    for path in ("/api/v1/nothing-here/", "/api/v1/patients/-1/", "/api/v1/patients/abc/"):
        response = client.get(path)
        assert (response.status_code, response["Content-Type"]) == (404, "application/json")
        assert response.json() == {"detail": "Not found."}


def test_an_api_address_without_its_slash_is_a_json_404_naming_it_not_a_redirect(owner) -> None:
    from patients.models import Patient

    client = Client()
    client.force_login(owner)
    data = {"medical_record_number": "SL-1", "first_name": "A", "last_name": "B", "date_of_birth": "1970-01-01"}
    for response in (client.post("/api/v1/patients", data | {"sex": "F"}), client.get("/api/v1/patients")):
        # A 301 was followed as a GET by clients: the registration silently became a list.
        assert (response.status_code, response["Content-Type"]) == (404, "application/json")
        assert response.json() == {"detail": "No such address: API addresses end in a slash (/api/v1/patients/)."}
    assert not Patient.objects.filter(medical_record_number="SL-1").exists()
    # The pages keep Django's redirect to the address with its slash.
    assert client.get("/patients").status_code == 301


def test_api_errors_are_json_with_debug_on_too(owner, settings) -> None:
    settings.DEBUG = True  # the embedded default's run mode, where Django answers with its own HTML pages
    client = Client()
    client.force_login(owner)
    for response in (client.get("/api/v1/nothing-here/"), client.post("/api/v1/patients", {})):
        assert (response.status_code, response["Content-Type"]) == (404, "application/json"), response.content[:200]
        assert "detail" in response.json()
    assert client.get("/api/v1/nothing-here/").json() == {"detail": "Not found."}


def test_a_missing_page_is_shown_in_the_portal_layout(owner) -> None:
    client = Client()
    client.force_login(owner)
    response = client.get(reverse("patients:detail", args=[999_999]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "There is no such page or record here." in page
    assert reverse("password_change") in page  # the header of a signed-in user: the layout is there


def test_a_refusal_page_gives_the_reason(clinic_admin) -> None:
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
