"""Clinic admins manage their own clinic's accounts, and nothing beyond."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.authtoken.models import Token

from audit.models import AuditEvent
from patients.models import Membership, Role
from tests.factories import member

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-password-77"


def _create(client, **overrides):
    data = {"username": "newdoc", "email": "", "role": "doctor", "password": NEW_PASSWORD}
    data |= {"password_again": data["password"], **overrides}
    if "password" in overrides:
        data["password_again"] = overrides["password"]
    return client.post(reverse("patients:account_create"), data)


def _update(client, user, **data):
    return client.post(reverse("patients:account_update", args=[user.pk]), {"new_password": "", **data})


def test_the_list_shows_the_clinics_accounts_only(client, clinic_admin, owner, colleague, outsider) -> None:
    client.force_login(clinic_admin)
    body = client.get(reverse("patients:accounts")).content.decode()
    assert "owner" in body and "colleague" in body
    assert "outsider" not in body


def test_an_admin_creates_an_account_in_their_clinic(client, clinic_admin, clinic) -> None:
    client.force_login(clinic_admin)
    assert _create(client).status_code == 302
    membership = Membership.objects.get(user__username="newdoc")
    assert (membership.clinic, membership.role) == (clinic, Role.DOCTOR)
    assert list(membership.user.groups.values_list("name", flat=True)) == ["Doctor"]
    event = AuditEvent.objects.get(action="account.create")
    assert event.actor == clinic_admin and event.object_id == str(membership.user_id)


def test_a_weak_password_is_shown_under_the_field_and_nothing_is_created(client, clinic_admin) -> None:
    client.force_login(clinic_admin)
    response = _create(client, password="short")
    assert response.status_code == 200
    assert "password" in response.context["form"].errors
    assert not get_user_model().objects.filter(username="newdoc").exists()


def test_an_existing_username_is_refused(client, clinic_admin, outsider) -> None:
    client.force_login(clinic_admin)
    response = _create(client, username="outsider")
    assert response.status_code == 200 and response.context["form"].errors["username"]
    assert Membership.objects.get(user=outsider).role == Role.DOCTOR


def test_an_admin_changes_a_role_and_the_group_follows(client, clinic_admin, owner) -> None:
    client.force_login(clinic_admin)
    assert _update(client, owner, role="doctor", is_active="on").status_code == 302
    owner.refresh_from_db()
    assert owner.membership.role == Role.DOCTOR
    assert list(owner.groups.values_list("name", flat=True)) == ["Doctor"]
    assert AuditEvent.objects.get(action="account.update").detail["changed"] == ["role"]


def test_deactivating_an_account_revokes_its_api_token(client, clinic_admin, owner) -> None:
    Token.objects.create(user=owner)
    client.force_login(clinic_admin)
    _update(client, owner, role="staff")
    owner.refresh_from_db()
    assert not owner.is_active
    assert not Token.objects.filter(user=owner).exists()


def test_a_password_reset_by_the_clinic_admin_lifts_a_lockout(client, clinic_admin, owner, settings) -> None:
    # The locked-out page tells the user to ask their clinic admin: the reset must let them in at once.
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": owner.username, "password": "wrong-password-123"})
    locked = client.post(reverse("login"), {"username": owner.username, "password": "wrong-password-123"})
    assert locked.status_code == 429 and "ask your clinic admin to reset your password" in locked.content.decode()
    client.force_login(clinic_admin)
    _update(client, owner, role="staff", is_active="on", new_password=NEW_PASSWORD)
    client.logout()
    response = client.post(reverse("login"), {"username": owner.username, "password": NEW_PASSWORD})
    assert response.status_code == 302


def test_an_admin_cannot_demote_or_deactivate_themselves(client, clinic_admin) -> None:
    client.force_login(clinic_admin)
    response = _update(client, clinic_admin, role="staff", is_active="on")
    assert response.status_code == 200
    clinic_admin.refresh_from_db()
    assert clinic_admin.membership.role == Role.CLINIC_ADMIN


def test_another_clinics_account_answers_404(client, clinic_admin, outsider) -> None:
    client.force_login(clinic_admin)
    assert client.get(reverse("patients:account_update", args=[outsider.pk])).status_code == 404
    assert _update(client, outsider, role="staff").status_code == 404
    outsider.refresh_from_db()
    assert outsider.is_active


def test_a_django_admin_account_in_the_clinic_is_out_of_reach(client, clinic_admin, clinic) -> None:
    portal_admin = member(clinic=clinic, role=Role.STAFF, username="portaladmin")
    portal_admin.is_staff = True
    portal_admin.save()
    client.force_login(clinic_admin)
    assert client.get(reverse("patients:account_update", args=[portal_admin.pk])).status_code == 404


@pytest.mark.parametrize("who", ["owner", "colleague", "outsider", "superuser"])
def test_only_clinic_admins_reach_the_account_pages(client, request, clinic_admin, who) -> None:
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("patients:accounts")).status_code == 403
    assert client.get(reverse("patients:account_create")).status_code == 403
    assert client.get(reverse("patients:account_update", args=[clinic_admin.pk])).status_code == 404


def test_clinic_admins_land_on_their_accounts_page(client, clinic_admin, owner) -> None:
    client.force_login(clinic_admin)
    assert client.get(reverse("home"))["Location"] == reverse("patients:accounts")
    client.force_login(owner)
    assert client.get(reverse("home"))["Location"] == reverse("patients:list")
