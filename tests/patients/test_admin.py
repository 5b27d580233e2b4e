"""The Django admin's user pages cut off API tokens as the portal's own account pages do."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from patients.authentication import token_issue

pytestmark = pytest.mark.django_db

NEW = "an-admin-reset-password-2027"


def _reset(admin_client, user, new1: str = NEW, new2: str = NEW):
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    return admin_client.post(url, {"password1": new1, "password2": new2, "usable_password": "true"})


def test_a_password_reset_in_the_admin_revokes_the_users_api_tokens(admin_client, owner, colleague) -> None:
    token_issue(user=owner)
    token_issue(user=colleague)
    assert _reset(admin_client, owner).status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(NEW)
    assert not Token.objects.filter(user=owner).exists() and Token.objects.filter(user=colleague).exists()
    event = AuditEvent.objects.get(action="password.reset")
    assert event.object_id == str(owner.pk) and event.detail == {"api_tokens_revoked": 1}
    assert NEW not in str(event.detail)


def test_a_password_reset_in_the_admin_lifts_a_lockout(client, admin_client, owner, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        response = client.post(reverse("login"), {"username": owner.username, "password": "wrong-password-123"})
    assert response.status_code == 429
    _reset(admin_client, owner)
    assert client.post(reverse("login"), {"username": owner.username, "password": NEW}).status_code == 302


def test_a_refused_reset_in_the_admin_keeps_the_tokens(admin_client, owner) -> None:
    token_issue(user=owner)
    assert _reset(admin_client, owner, new2="something-else-entirely").status_code == 200
    assert Token.objects.filter(user=owner).exists()
    assert not AuditEvent.objects.filter(action="password.reset").exists()


def test_deactivating_a_user_in_the_admin_revokes_their_api_tokens(admin_client, owner) -> None:
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


def _user_form(admin_client, user):
    url = reverse("admin:auth_user_change", args=[user.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data |= {"date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", "last_login_0": "", "last_login_1": ""}
    data |= {"groups": [], "user_permissions": [], "is_active": "on"}
    return url, data


def test_a_clinic_account_cannot_be_made_superuser_in_the_admin(admin_client, owner) -> None:
    url, data = _user_form(admin_client, owner)
    response = admin_client.post(url, data | {"is_superuser": "on", "is_staff": "on"})
    assert response.status_code == 200
    assert "a clinic account cannot have staff or superuser status" in response.content.decode()
    owner.refresh_from_db()
    assert not owner.is_superuser and not owner.is_staff


def test_a_change_of_an_account_in_the_admin_is_audited_under_its_clinic(admin_client, owner, clinic) -> None:
    url, data = _user_form(admin_client, owner)
    assert admin_client.post(url, data | {"email": "owner@example.org"}).status_code == 302
    event = AuditEvent.objects.get(action="admin.change", object_type="user")
    assert event.object_id == str(owner.pk) and event.clinic_id == clinic.pk
    assert "Email address" in str(event.detail["change"])


def test_a_membership_left_on_an_account_made_superuser_opens_no_clinic_page(client, owner, patient) -> None:
    from django.contrib.auth import get_user_model

    # As if set outside the admin's form (the shell, an old row): the pages still treat it as no clinic's.
    get_user_model().objects.filter(pk=owner.pk).update(is_superuser=True, is_staff=True)
    client.force_login(get_user_model().objects.get(pk=owner.pk))
    assert client.get(reverse("patients:detail", args=[patient.pk])).status_code == 404
    assert client.get(reverse("patients:list")).status_code == 403
