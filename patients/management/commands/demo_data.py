"""Demo clinic with one account per role and a few patients. Never runs with production settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from patients.models import Clinic, Patient, Role
from patients.services import clinic_user_create

DEMO_CLINIC = "Demo Eye Clinic"
# Demo-only credentials, printed by the run command; production settings refuse this command.
DEMO_ACCOUNTS: list[tuple[str, str, str]] = [
    ("demo_staff", Role.STAFF, "staff-demo-pass-2026"),
    ("demo_doctor", Role.DOCTOR, "doctor-demo-pass-2026"),
    ("demo_admin", Role.CLINIC_ADMIN, "admin-demo-pass-2026"),
]
DEMO_SUPERUSER = ("demo_superuser", "superuser-demo-pass-2026")
DEMO_PATIENTS = [
    ("MRN-0001", "Amina", "Okafor", dt.date(1961, 4, 12), "F"),
    ("MRN-0002", "Jonas", "Lindqvist", dt.date(1955, 9, 3), "M"),
    ("MRN-0003", "Priya", "Raman", dt.date(1972, 1, 27), "F"),
]


class Command(BaseCommand):
    help = "Create the demo clinic, one account per role, a superuser and a few patients (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if not getattr(settings, "DEMO_DATA_ALLOWED", False):
            raise CommandError("Demo data is disabled in these settings (never in production).")
        user_model = get_user_model()
        for username, role, password in DEMO_ACCOUNTS:
            if not user_model.objects.filter(username=username).exists():
                try:
                    clinic_user_create(clinic_name=DEMO_CLINIC, role=role, username=username, password=password)
                except ValidationError as exc:
                    # "Demo_Staff" made by hand blocks "demo_staff" (usernames compare without case).
                    raise CommandError(f"Cannot create {username!r}: {' '.join(exc.messages)}") from exc
        name, password = DEMO_SUPERUSER
        if not user_model.objects.filter(username=name).exists():
            user_model.objects.create_superuser(username=name, password=password, email="")
        clinic = Clinic.objects.get(name=DEMO_CLINIC)
        staff = user_model.objects.get(username="demo_staff")
        for mrn, first, last, born, sex in DEMO_PATIENTS:
            Patient.objects.get_or_create(
                clinic=clinic,
                medical_record_number=mrn,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "date_of_birth": born,
                    "sex": sex,
                    "created_by": staff,
                },
            )
        self.stdout.write(self.credentials())

    @staticmethod
    def credentials() -> str:
        lines = [f"Demo accounts ({DEMO_CLINIC}):"]
        lines += [f"  {role:<13} {username:<16} {password}" for username, role, password in DEMO_ACCOUNTS]
        lines.append(f"  {'superuser':<13} {DEMO_SUPERUSER[0]:<16} {DEMO_SUPERUSER[1]}  (Django admin)")
        return "\n".join(lines)
