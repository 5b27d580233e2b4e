"""'Stay signed in' on the idle-timeout warning: the endpoint that renews the session (patients/account_views)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

URL = "/accounts/session/keepalive/"


def test_the_keepalive_renews_a_signed_in_session_and_says_for_how_long(client, owner, settings) -> None:
    settings.SESSION_COOKIE_AGE = 600
    client.force_login(owner)
    response = client.post(URL)
    assert response.status_code == 200
    assert response.json() == {"seconds_left": 600}
    assert client.session.get_expiry_age() == 600


def test_an_ended_session_is_answered_in_json_not_sent_to_the_login_page(client) -> None:
    response = client.post(URL)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "sign in again" in response.json()["detail"]


def test_the_keepalive_takes_only_posts_with_the_csrf_token(owner) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get(URL).status_code == 405
    assert client.post(URL).status_code == 403


def test_signed_in_pages_carry_the_warning_and_the_login_page_does_not(client, owner, settings) -> None:
    settings.SESSION_COOKIE_AGE = 900
    assert 'id="session-timeout"' not in client.get(reverse("login")).content.decode()
    client.force_login(owner)
    page = client.get(reverse("patients:list")).content.decode()
    assert 'id="session-timeout"' in page
    assert 'data-seconds="900"' in page and 'data-warning="120"' in page
    assert f'data-keepalive="{URL}"' in page


def test_the_admin_pages_carry_the_warning_too(client, django_user_model, settings) -> None:
    settings.SESSION_COOKIE_AGE = 900
    admin = django_user_model.objects.create_superuser("site-admin", "admin@example.org", "a-long-Passphrase-9")
    client.force_login(admin)
    page = client.get("/admin/").content.decode()
    assert 'id="session-timeout"' in page and "session-timeout.js" in page and "session-timeout.css" in page


def test_an_ended_admin_session_is_sent_to_the_admin_login_page(client, django_user_model) -> None:
    admin = django_user_model.objects.create_superuser("site-admin", "admin@example.org", "a-long-Passphrase-9")
    client.force_login(admin)
    page = client.get("/admin/patients/patient/").content.decode()
    assert 'href="/admin/login/?next=/admin/patients/patient/">sign in again' in page


def test_an_ended_portal_session_is_sent_to_the_portal_login_page(client, owner) -> None:
    client.force_login(owner)
    page = client.get(reverse("patients:list")).content.decode()
    assert f'href="{reverse("login")}?next={reverse("patients:list")}">sign in again' in page


def test_the_warning_template_comments_stay_out_of_the_page(client, owner) -> None:
    client.force_login(owner)
    page = client.get(reverse("patients:list")).content.decode()
    assert "{#" not in page and "sign_in:" not in page
