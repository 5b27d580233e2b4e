from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


def test_a_token_from_username_and_password_authenticates_later_calls(api, owner, password, patient) -> None:
    response = api.post(TOKEN, {"username": "owner", "password": password}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/patients/").json()["count"] == 1
    event = AuditEvent.objects.get(action="auth.token")
    assert event.actor == owner


def test_a_wrong_password_is_a_400_and_a_failed_login_on_the_trail(api, owner) -> None:
    response = api.post(TOKEN, {"username": "owner", "password": "wrong-password-123"}, format="json")
    assert response.status_code == 400
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.username == "owner" and event.actor is None


def test_missing_fields_are_a_400(api) -> None:
    response = api.post(TOKEN, {"username": "owner"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def test_an_expired_token_is_refused_and_a_new_one_issued(api, owner, password, settings) -> None:
    token = Token.objects.create(user=owner)
    Token.objects.filter(pk=token.pk).update(
        created=token.created - dt.timedelta(seconds=settings.API_TOKEN_LIFETIME_SECONDS + 1)
    )
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/v1/patients/").status_code == 401
    api.credentials()
    fresh = api.post(TOKEN, {"username": "owner", "password": password}, format="json").json()["token"]
    assert fresh != token.key


def test_a_deactivated_users_token_stops_working(api, owner) -> None:
    token = Token.objects.create(user=owner)
    owner.is_active = False
    owner.save()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/v1/patients/").status_code == 401


def test_the_token_endpoint_is_locked_after_repeated_failures(api, owner, password, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api.post(TOKEN, {"username": "owner", "password": "wrong-password-123"}, format="json")
    response = api.post(TOKEN, {"username": "owner", "password": password}, format="json")
    assert response.status_code == 429
    assert "Too many failed logins" in response.json()["detail"]
