"""Times in the clinic's zone (TIME_ZONE, default the server's own) on pages and exports, in one format;
the API and FHIR stay ISO 8601 with the offset."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

from audit.exports import csv_rows
from audit.models import AuditEvent
from dr_portal.time_zone import server_time_zone
from patients.models import Patient
from screening.models import Examination
from tests.examination_data import graded_examination

ROOT = Path(__file__).resolve().parents[2]
WINTER = datetime(2026, 1, 15, 10, 5, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 10, 5, tzinfo=UTC)


def _zoneinfo_link(tmp_path: Path, name: str) -> Path:
    """An /etc/localtime pointing into a zoneinfo folder, as Debian's is."""
    zone = tmp_path / "usr/share/zoneinfo" / name
    zone.parent.mkdir(parents=True)
    zone.write_bytes(b"TZif")  # its name is what counts
    link = tmp_path / "localtime"
    link.symlink_to(zone)
    return link


def test_the_servers_zone_comes_from_tz_then_etc_localtime_then_etc_timezone(tmp_path: Path) -> None:
    nowhere = tmp_path / "missing"
    assert server_time_zone({"TZ": "America/New_York"}, nowhere, nowhere) == "America/New_York"
    assert server_time_zone({"TZ": ":Asia/Tokyo"}, nowhere, nowhere) == "Asia/Tokyo"
    link = _zoneinfo_link(tmp_path, "Europe/Berlin")
    assert server_time_zone({}, link, nowhere) == "Europe/Berlin"
    assert server_time_zone({"TZ": "not a zone"}, link, nowhere) == "Europe/Berlin"  # skipped, not trusted
    (tmp_path / "timezone").write_text("Australia/Sydney\n")
    assert server_time_zone({}, nowhere, tmp_path / "timezone") == "Australia/Sydney"
    assert server_time_zone({"TZ": "/etc/passwd"}, nowhere, nowhere) == "UTC"  # a path is no zone name
    assert server_time_zone({}, nowhere, nowhere) == "UTC"


def _settings(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("TIME_ZONE", "TZ")}
    environ.update(DJANGO_SETTINGS_MODULE="dr_portal.settings.local", **env)
    script = f"import django; django.setup(); from django.conf import settings; {code}"
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environ, capture_output=True, text=True)


def test_the_time_zone_setting_is_read_from_the_environment_and_a_wrong_name_refused() -> None:
    assert _settings("print(settings.TIME_ZONE, settings.USE_TZ)", TIME_ZONE="Europe/Berlin").stdout.split() == [
        "Europe/Berlin",
        "True",
    ]
    assert _settings("print(settings.TIME_ZONE)", TZ="Asia/Tokyo").stdout.strip() == "Asia/Tokyo"
    refused = _settings("print(settings.TIME_ZONE)", TIME_ZONE="Mars/Olympus_Mons")
    assert refused.returncode != 0
    assert "TIME_ZONE 'Mars/Olympus_Mons' is not a time zone name" in refused.stderr


@pytest.mark.django_db
@override_settings(TIME_ZONE="Europe/Berlin")
def test_pages_show_the_clinics_local_time_in_one_format(client, owner, patient) -> None:
    winter = graded_examination(patient=patient)
    summer = graded_examination(patient=patient, grades=(0, 0))
    Examination.objects.filter(pk=winter.pk).update(created_at=WINTER, completed_at=WINTER)
    Examination.objects.filter(pk=summer.pk).update(created_at=SUMMER, completed_at=SUMMER)
    Patient.objects.filter(pk=patient.pk).update(created_at=WINTER)
    client.force_login(owner)

    result = client.get(reverse("screening:detail", args=[winter.pk])).content.decode()
    assert "Examination of 2026-01-15 11:05 CET" in result  # 10:05 UTC
    assert "Graded 2026-01-15 11:05 CET" in result
    assert "UTC" not in result
    summer_page = client.get(reverse("screening:detail", args=[summer.pk])).content.decode()
    assert "Examination of 2026-07-15 12:05 CEST" in summer_page  # summer time

    history = client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert "Registered</dt><dd>2026-01-15 11:05 CET" in history
    assert "2026-07-15 12:05 CEST" in history and "2026-01-15 11:05 CET" in history
    assert "UTC" not in history


@pytest.mark.django_db
@override_settings(TIME_ZONE="Europe/Berlin")
def test_the_api_keeps_iso_8601_with_the_offset(client, owner, patient) -> None:
    examination = graded_examination(patient=patient)
    Examination.objects.filter(pk=examination.pk).update(created_at=WINTER)
    client.force_login(owner)
    document = client.get(f"/api/v1/examinations/{examination.pk}/").json()
    assert datetime.fromisoformat(document["created_at"]) == WINTER  # the same instant, its offset given
    assert document["created_at"].endswith("+01:00")


@override_settings(TIME_ZONE="Europe/Berlin")
def test_the_audit_export_writes_local_times_with_their_offset() -> None:
    # Unsaved: the trail is append-only, and the export only reads the event.
    rows = "".join(csv_rows([AuditEvent(action="patient.view", timestamp=WINTER)]))
    assert "2026-01-15T11:05:00+01:00" in rows
