"""Usernames: Django's character rule, and unique without regard to case ("qa u" and "QA_CASE" beside
"qa_case" were accepted)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.models import AuditEvent
from patients.services import clinic_user_create

pytestmark = pytest.mark.django_db
PASSWORD = "another-long-password-77"


def _create(client, username: str):
    data = {"username": username, "email": "", "role": "doctor", "password": PASSWORD, "password_again": PASSWORD}
    return client.post(reverse("patients:account_create"), data)


@pytest.mark.parametrize("username", ["OWNER", "Owner", "qa u", "tab\tname", "semi;colon"])
def test_the_account_page_refuses_it_and_creates_nothing(client, clinic_admin, owner, username: str) -> None:
    client.force_login(clinic_admin)
    before = get_user_model().objects.count()
    response = _create(client, username)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert get_user_model().objects.count() == before


def test_the_service_names_the_case_rule(owner) -> None:
    with pytest.raises(ValidationError, match="without regard to case"):
        clinic_user_create(clinic_name="Elsewhere", role="staff", username=owner.username.upper(), password=PASSWORD)


def test_letters_digits_and_the_usual_marks_are_fine(client, clinic_admin) -> None:
    client.force_login(clinic_admin)
    assert _create(client, "dr.zoë-o'neil").status_code == 200  # the apostrophe is not allowed
    assert _create(client, "dr.zoë-oneil_2@clinic+1").status_code == 302


def test_a_clinic_name_in_other_case_is_the_same_clinic(clinic) -> None:
    _, found, created = clinic_user_create(
        clinic_name=clinic.name.upper(), role="staff", username="newstaff", password=PASSWORD
    )
    assert (found, created) == (clinic, False)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"clinic_name": "c" * 201}, "longer than 200"),
        ({"username": "u" * 151}, "longer than 150"),
        ({"email": "not-an-address"}, "valid email"),
    ],
)
def test_overlong_names_and_a_bad_address_are_refused_in_words(changes: dict[str, str], message: str) -> None:
    values = {"clinic_name": "Clinic", "role": "staff", "username": "someone", "password": PASSWORD}
    with pytest.raises(ValidationError, match=message):
        clinic_user_create(**(values | changes))
    assert not get_user_model().objects.filter(username="someone").exists()


@pytest.mark.parametrize("taken", ["outsider", "root", "OUTSIDER"])
def test_a_username_of_another_clinic_or_a_superuser_gets_a_generic_refusal(
    client, clinic_admin, outsider, superuser, taken: str
) -> None:
    client.force_login(clinic_admin)
    response = _create(client, taken)
    assert response.status_code == 200
    errors = response.context["form"].errors
    # Worded as for a name never used: nothing says that the account exists, nor where.
    assert errors == {"username": ["This username is not available: choose another."]}
    assert "exists" not in response.content.decode()
    assert not AuditEvent.objects.filter(action="account.create").exists()


def test_a_username_of_the_admins_own_clinic_is_named_as_taken(client, clinic_admin, owner) -> None:
    client.force_login(clinic_admin)
    errors = _create(client, "Owner").context["form"].errors
    assert errors == {"username": ["An account with this username already exists in your clinic."]}
