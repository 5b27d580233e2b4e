"""Provisioning and maintenance commands with odd input: a CommandError in words (exit status 1), never a
traceback, and nothing created."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from patients.models import Clinic
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a-long-enough-password-77"


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_PASSWORD", STRONG)


@pytest.mark.parametrize(
    ("clinic", "username", "message"),
    [("C" * 201, "longclinic", "The clinic is 201 characters long; at most 200"), ("C", "u" * 151, "at most 150")],
)
def test_create_clinic_user_refuses_what_does_not_fit(clinic: str, username: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("create_clinic_user", "--clinic", clinic, "--role", "staff", "--username", username)
    assert not get_user_model().objects.exists() and not Clinic.objects.exists()


def test_create_clinic_user_refuses_an_email_address_that_is_none() -> None:
    with pytest.raises(CommandError, match="'not-an-address': Enter a valid email address"):
        call_command(
            "create_clinic_user", "--clinic", "C", "--role", "staff", "--username", "u1", "--email", "not-an-address"
        )
    assert not get_user_model().objects.exists()


def test_demo_data_names_the_account_that_blocks_it() -> None:
    UserFactory.create(username="Demo_Staff")  # usernames compare without case
    with pytest.raises(CommandError, match="Cannot create 'demo_staff': User 'demo_staff' already exists"):
        call_command("demo_data", stdout=io.StringIO())
    assert not Clinic.objects.exists()


@pytest.mark.parametrize("args", [["--limit", "-1"], ["--dry-run", "--limit", "-1"], ["--limit", "0"]])
def test_reconcile_refuses_a_limit_below_one(args: list[str]) -> None:
    with pytest.raises(CommandError, match="must be 1 or more"):
        call_command("reconcile_examinations", *args, stdout=io.StringIO())
