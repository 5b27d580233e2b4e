"""The embedded default's SQLite compares letters without regard to case beyond A-Z, as PostgreSQL does."""

from __future__ import annotations

from pathlib import Path

import pytest

from patients.sqlite import unicode_like
from tests.embedded_sqlite import run_on_embedded_sqlite

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
    outcome = run_on_embedded_sqlite(SCRIPT, tmp_path)
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
def test_like_folds_case_and_keeps_wildcards_and_escapes(pattern, value, escape, expected) -> None:
    assert unicode_like(pattern, value, escape) is expected
