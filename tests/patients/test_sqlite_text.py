"""The embedded default's SQLite compares letters without regard to case beyond A-Z, as PostgreSQL does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from patients.sqlite import unicode_like

ROOT = Path(__file__).resolve().parents[2]

# Registers and searches through the services and selectors, on a real SQLite file.
SCRIPT = """
import datetime as dt, json
import django
django.setup()
from django.core.exceptions import ValidationError
from django.core.management import call_command
call_command("migrate", verbosity=0)
from patients import services
from patients.selectors import patient_list
PASSWORD = "a-long-password-123"
user, _, _ = services.clinic_user_create(clinic_name="Clinic", role="staff", username="nurse", password=PASSWORD)
def register(number, last):
    try:
        services.patient_create(user=user, medical_record_number=number, first_name="Zo\\u00eb", last_name=last,
                                date_of_birth=dt.date(1970, 1, 1), sex="F")
        return "saved"
    except ValidationError as error:
        return "refused"
outcomes = [register("\\u00c4X-1", "M\\u00fcller-\\u00c5ngstr\\u00f6m"), register("\\u00e4x-1", "Other")]
found = [patient_list(user=user, search=term).count() for term in ("\\u00c5NGSTR\\u00d6M", "ZO\\u00cb", "\\u00e4x")]
try:
    services.clinic_user_create(clinic_name="Clinic", role="staff", username="NURSE", password=PASSWORD)
    twin = "created"
except ValidationError:
    twin = "refused"
print(json.dumps({"outcomes": outcomes, "found": found, "twin": twin}))
"""


def test_record_numbers_search_and_usernames_fold_every_letter_on_sqlite(tmp_path: Path) -> None:
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "dr_portal.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"outcomes": ["saved", "refused"], "found": [1, 1, 1], "twin": "refused"}


@pytest.mark.parametrize(
    ("pattern", "value", "escape", "expected"),
    [
        ("%ångström%", "Müller-Ångström", None, True),
        ("äx-1", "ÄX-1", "\\", True),
        ("a\\%b", "a%b", "\\", True),
        ("a\\%b", "axb", "\\", False),
        ("a_c", "abc", None, True),
        ("%x%", None, None, None),
    ],
)
def test_like_folds_case_and_keeps_wildcards_and_escapes(pattern, value, escape, expected) -> None:  # type: ignore[no-untyped-def]
    assert unicode_like(pattern, value, escape) is expected
