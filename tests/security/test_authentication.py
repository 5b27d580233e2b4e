"""Lockout after repeated failures, idle sessions expiring, passwords hashed with Argon2 and validated."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _login(client, password: str):
    return client.post(reverse("login"), {"username": "owner", "password": password})


def test_a_username_is_locked_out_after_repeated_failures(client, owner, password, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "wrong-password-123").status_code == 200  # the form again, with an error
    response = _login(client, "wrong-password-123")
    assert response.status_code == 429
    # Even the right password is refused now, and nobody is logged in.
    locked = _login(client, password)
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.locked_out", username="owner").exists()


def test_an_attacker_elsewhere_cannot_lock_the_owner_out(owner, superuser, password, settings) -> None:
    attacker = Client(REMOTE_ADDR="203.0.113.66")
    for username in ("owner", "root"):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            attacker.post(reverse("login"), {"username": username, "password": "x" * 12})
    # The guessing stops there: even the right password is refused from that address.
    assert attacker.post(reverse("login"), {"username": "owner", "password": password}).status_code == 429
    # The owner, at the clinic, signs in; so does the superuser at the Django admin's login.
    assert (
        Client(REMOTE_ADDR="10.1.1.1").post(reverse("login"), {"username": "owner", "password": password}).status_code
        == 302
    )
    admin_login = Client(REMOTE_ADDR="10.1.1.2").post(
        reverse("admin:login"), {"username": "root", "password": password, "next": "/admin/"}
    )
    assert admin_login.status_code == 302 and admin_login["Location"] == "/admin/"


def test_guessing_from_one_address_is_not_reset_by_changing_the_user_agent(client, owner, password, settings) -> None:
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "owner", "password": "x" * 12}, HTTP_USER_AGENT=f"agent {n}")
    response = client.post(reverse("login"), {"username": "owner", "password": password}, HTTP_USER_AGENT="new")
    assert response.status_code == 429


def test_the_lockout_ends_after_the_cool_off(client, owner, password, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "wrong-password-123")
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1))
    assert _login(client, password).status_code == 302


def test_other_users_are_not_locked_by_someone_elses_failures(client, owner, colleague, password, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "wrong-password-123")
    response = client.post(reverse("login"), {"username": "colleague", "password": password})
    assert response.status_code == 302


def test_an_api_token_survives_logging_out_of_the_web_session(client, owner, password) -> None:
    # A decision (docs/security.md, Decisions): the token belongs to another client of the same user.
    api = APIClient()
    token = api.post("/api/v1/auth/token/", {"username": "owner", "password": password}, format="json").json()["token"]
    assert _login(client, password).status_code == 302
    client.post(reverse("logout"))
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/patients/").status_code == 200


def test_the_idle_timeout_is_fifteen_minutes_by_default() -> None:
    assert django_settings.SESSION_COOKIE_AGE == 15 * 60
    assert django_settings.SESSION_SAVE_EVERY_REQUEST is True


def test_an_idle_session_expires_and_an_active_one_does_not(client, owner, patient) -> None:
    client.force_login(owner)
    url = reverse("patients:detail", args=[patient.pk])
    start = timezone.now()
    # 14 minutes idle: still in, and the request pushes the expiry another 15 minutes on.
    with mock.patch("django.utils.timezone.now", return_value=start + dt.timedelta(minutes=14)):
        assert client.get(url).status_code == 200
    # 28 minutes after the start, but only 14 after the last request: still in.
    with mock.patch("django.utils.timezone.now", return_value=start + dt.timedelta(minutes=28)):
        assert client.get(url).status_code == 200
    # Then 16 minutes of silence: the session is gone and the login page asks again.
    with mock.patch("django.utils.timezone.now", return_value=start + dt.timedelta(minutes=44)):
        response = client.get(url)
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_passwords_are_hashed_with_argon2_outside_tests() -> None:
    from dr_portal.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


@pytest.mark.parametrize("weak", ["short-pw1", "password1234", "123456789012"])
def test_weak_passwords_are_refused(weak: str) -> None:
    with pytest.raises(ValidationError):
        validate_password(weak)
