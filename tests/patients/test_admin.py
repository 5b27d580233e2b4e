"""The Django admin's user pages cut off API tokens as the portal's own account pages do."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from patients.authentication import token_issue

pytestmark = pytest.mark.django_db

NEW = "an-admin-reset-password-2027"


def _reset(admin_client, user, new1: str = NEW, new2: str = NEW):  # type: ignore[no-untyped-def]
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    return admin_client.post(url, {"password1": new1, "password2": new2, "usable_password": "true"})


def test_a_password_reset_in_the_admin_revokes_the_users_api_tokens(admin_client, owner, colleague) -> None:  # type: ignore[no-untyped-def]
    token_issue(user=owner)
    token_issue(user=colleague)
    assert _reset(admin_client, owner).status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(NEW)
    assert not Token.objects.filter(user=owner).exists() and Token.objects.filter(user=colleague).exists()
    event = AuditEvent.objects.get(action="password.reset")
    assert event.object_id == str(owner.pk) and event.detail == {"api_tokens_revoked": 1}
    assert NEW not in str(event.detail)


def test_a_password_reset_in_the_admin_lifts_a_lockout(client, admin_client, owner, settings) -> None:  # type: ignore[no-untyped-def]
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        response = client.post(reverse("login"), {"username": owner.username, "password": "wrong-password-123"})
    assert response.status_code == 429
    _reset(admin_client, owner)
    assert client.post(reverse("login"), {"username": owner.username, "password": NEW}).status_code == 302


def test_a_refused_reset_in_the_admin_keeps_the_tokens(admin_client, owner) -> None:  # type: ignore[no-untyped-def]
    token_issue(user=owner)
    assert _reset(admin_client, owner, new2="something-else-entirely").status_code == 200
    assert Token.objects.filter(user=owner).exists()
    assert not AuditEvent.objects.filter(action="password.reset").exists()


def test_deactivating_a_user_in_the_admin_revokes_their_api_tokens(admin_client, owner) -> None:  # type: ignore[no-untyped-def]
    token_issue(user=owner)
    url = reverse("admin:auth_user_change", args=[owner.pk])
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data |= {"is_active": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    data |= {"last_login_0": "", "last_login_1": ""}
    data["groups"], data["user_permissions"] = [], []
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    owner.refresh_from_db()
    assert not owner.is_active
    assert not Token.objects.filter(user=owner).exists()
