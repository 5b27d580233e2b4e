from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

UA = "Mozilla/5.0 (audit test)"


def _login(client, username: str, password: str):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT=UA
    )


def test_a_login_records_who_from_where(client, owner, password) -> None:
    assert _login(client, "owner", password).status_code == 302
    event = AuditEvent.objects.get(action="auth.login")
    assert (event.actor, event.username, event.ip_address, event.user_agent) == (owner, "owner", "10.1.2.3", UA)
    assert event.timestamp.utcoffset().total_seconds() == 0


def test_a_failed_login_records_the_username_as_typed_and_no_password(client, owner) -> None:
    _login(client, "owner", "not-the-password-1")
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert (event.actor, event.username, event.ip_address) == (None, "owner", "10.1.2.3")
    assert "not-the-password" not in str(event.detail)


def test_a_logout_records_the_user(client, owner, password) -> None:
    _login(client, "owner", password)
    client.post(reverse("logout"), REMOTE_ADDR="10.1.2.3")
    event = AuditEvent.objects.get(action="auth.logout")
    assert event.actor == owner


def test_each_authentication_event_is_recorded_exactly_once(client, owner, password) -> None:
    _login(client, "owner", "not-the-password-1")
    _login(client, "owner", password)
    client.post(reverse("logout"))
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["auth.login_failed", "auth.login", "auth.logout"]
