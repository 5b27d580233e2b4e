"""Usernames: Django's character rule, and unique without regard to case ("qa u" and "QA_CASE" beside
"qa_case" were accepted)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from patients.services import clinic_user_create

pytestmark = pytest.mark.django_db
PASSWORD = "another-long-password-77"


def _create(client, username: str):  # type: ignore[no-untyped-def]
    data = {"username": username, "email": "", "role": "doctor", "password": PASSWORD, "password_again": PASSWORD}
    return client.post(reverse("patients:account_create"), data)


@pytest.mark.parametrize("username", ["OWNER", "Owner", "qa u", "tab\tname", "semi;colon"])
def test_the_account_page_refuses_it_and_creates_nothing(client, clinic_admin, owner, username: str) -> None:  # type: ignore[no-untyped-def]
    client.force_login(clinic_admin)
    before = get_user_model().objects.count()
    response = _create(client, username)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert get_user_model().objects.count() == before


def test_the_service_names_the_case_rule(owner) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="without regard to case"):
        clinic_user_create(clinic_name="Elsewhere", role="staff", username=owner.username.upper(), password=PASSWORD)


def test_letters_digits_and_the_usual_marks_are_fine(client, clinic_admin) -> None:  # type: ignore[no-untyped-def]
    client.force_login(clinic_admin)
    assert _create(client, "dr.zoë-o'neil").status_code == 200  # the apostrophe is not allowed
    assert _create(client, "dr.zoë-oneil_2@clinic+1").status_code == 302
