"""Memberships in the Django admin: no clinic for an admin account, and the role's group follows the role."""

from __future__ import annotations

import pytest
from django.urls import reverse

from patients.models import Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_staff_or_superuser_account_is_given_no_clinic(client, superuser, clinic) -> None:
    client.force_login(superuser)
    response = client.post(
        reverse("admin:patients_membership_add"), {"user": superuser.pk, "clinic": clinic.pk, "role": "doctor"}
    )
    assert response.status_code == 200
    assert "belongs to no clinic" in response.content.decode()
    assert not Membership.objects.filter(user=superuser).exists()


def test_a_role_changed_in_the_admin_moves_the_user_to_its_group(client, superuser, owner) -> None:
    client.force_login(superuser)
    membership = owner.membership
    url = reverse("admin:patients_membership_change", args=[membership.pk])
    response = client.post(url, {"user": owner.pk, "clinic": membership.clinic_id, "role": "doctor"})
    assert response.status_code == 302
    assert list(owner.groups.values_list("name", flat=True)) == ["Doctor"]


def test_a_new_membership_puts_the_user_in_the_role_group(client, superuser, clinic) -> None:
    newcomer = UserFactory.create(username="newcomer")
    client.force_login(superuser)
    client.post(reverse("admin:patients_membership_add"), {"user": newcomer.pk, "clinic": clinic.pk, "role": "staff"})
    assert list(newcomer.groups.values_list("name", flat=True)) == ["Staff"]
