from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from patients.models import Clinic, Membership

pytestmark = pytest.mark.django_db

STRONG = "a-long-enough-password-77"


def test_create_clinic_user_creates_the_clinic_and_the_user_with_a_role(monkeypatch) -> None:
    monkeypatch.setenv("DR_PASSWORD", STRONG)
    call_command("create_clinic_user", "--clinic", "Harbour Eye", "--role", "doctor", "--username", "drwho")
    user = get_user_model().objects.get(username="drwho")
    assert user.check_password(STRONG)
    assert user.membership.clinic.name == "Harbour Eye" and user.membership.role == "doctor"
    assert list(user.groups.values_list("name", flat=True)) == ["Doctor"]


def test_create_clinic_user_reads_the_password_from_stdin(monkeypatch) -> None:
    monkeypatch.delenv("DR_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(STRONG + "\n"))
    call_command("create_clinic_user", "--clinic", "C", "--role", "staff", "--username", "s1", "--password-stdin")
    assert get_user_model().objects.get(username="s1").check_password(STRONG)


def test_create_clinic_user_again_fails_clearly_and_changes_nothing(monkeypatch) -> None:
    monkeypatch.setenv("DR_PASSWORD", STRONG)
    call_command("create_clinic_user", "--clinic", "A", "--role", "staff", "--username", "dup")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_clinic_user", "--clinic", "B", "--role", "doctor", "--username", "dup")
    assert Membership.objects.get(user__username="dup").clinic.name == "A"
    assert not Clinic.objects.filter(name="B").exists()


def test_create_clinic_user_refuses_a_weak_password_and_creates_nothing(monkeypatch) -> None:
    monkeypatch.setenv("DR_PASSWORD", "short")
    with pytest.raises(CommandError, match="at least 12 characters"):
        call_command("create_clinic_user", "--clinic", "Weak", "--role", "staff", "--username", "weak")
    assert not get_user_model().objects.filter(username="weak").exists()
    assert not Clinic.objects.filter(name="Weak").exists()


def test_create_clinic_user_without_a_password_fails_clearly(monkeypatch) -> None:
    monkeypatch.delenv("DR_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="DR_PASSWORD"):
        call_command("create_clinic_user", "--clinic", "X", "--role", "staff", "--username", "nopw")


def test_demo_data_makes_one_account_per_role_and_is_idempotent() -> None:
    out = io.StringIO()
    call_command("demo_data", stdout=out)
    call_command("demo_data", stdout=io.StringIO())
    roles = set(Membership.objects.filter(clinic__name="Demo Eye Clinic").values_list("role", flat=True))
    assert roles == {"staff", "doctor", "clinic_admin"}
    assert "demo_doctor" in out.getvalue()


def test_demo_data_refuses_to_run_where_it_is_not_allowed(settings) -> None:
    settings.DEMO_DATA_ALLOWED = False
    with pytest.raises(CommandError, match="never in production"):
        call_command("demo_data")
    assert not get_user_model().objects.exists()
