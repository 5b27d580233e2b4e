"""NUL bytes from a client never reach PostgreSQL, whose text and jsonb cannot hold them (each was a 500)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import record_event
from patients.authentication import ExpiringTokenAuthentication, token_issue

pytestmark = pytest.mark.django_db


def test_an_api_request_with_a_nul_in_a_header_is_refused_with_400(owner, patient) -> None:
    client = APIClient()
    client.force_authenticate(owner)
    before = AuditEvent.objects.count()
    response = client.get(f"/api/v1/patients/{patient.pk}/", HTTP_USER_AGENT="evil\x00agent")
    assert response.status_code == 400
    assert response.json() == {"detail": "A request header holds a NUL byte."}
    assert AuditEvent.objects.count() == before  # refused before the view: nothing was read


def test_a_failed_login_with_a_nul_user_agent_is_refused_not_a_500(owner) -> None:
    # django-axes records a failed login with its user agent: the request must not get that far.
    response = Client().post(
        "/accounts/login/", {"username": owner.username, "password": "wrong"}, HTTP_USER_AGENT="a\x00b"
    )
    assert response.status_code == 400
    assert "The portal could not read this request." in response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]  # the portal's page, with its policy


@pytest.mark.parametrize("key", ["\x00", "{key}\x00", "\x00{key}"])
def test_a_token_with_a_nul_is_refused_with_400(owner, key: str) -> None:
    token = token_issue(user=owner)
    response = APIClient().get("/api/v1/patients/", HTTP_AUTHORIZATION=f"Token {key.format(key=token.key)}")
    assert response.status_code == 400


def test_token_authentication_itself_refuses_a_key_with_a_nul(owner) -> None:
    key = token_issue(user=owner).key
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        ExpiringTokenAuthentication().authenticate_credentials(key + "\x00")


def test_nul_bytes_in_an_audit_event_are_dropped(owner) -> None:
    event = record_event(action="patient.list", actor=owner, username="x\x00y", detail={"search": ["a\x00b"]})
    event.refresh_from_db()
    assert (event.username, event.detail) == ("xy", {"search": ["ab"]})
