"""The database itself refuses to change or remove audit rows, whatever path the statement takes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.services import record_event

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def event(owner, patient):
    return record_event(action="patient.view", actor=owner, obj=patient)


def test_an_orm_update_of_an_audit_row_fails_at_the_database(event) -> None:
    event.action = "patient.forged"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "patient.view"


def test_a_queryset_update_fails_at_the_database(event) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(username="someone-else")


def test_a_delete_fails_at_the_database(event) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_raw_sql_cannot_update_or_delete_either(event) -> None:
    for sql in ("UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AuditEvent.objects.count() == 1


def test_inserting_still_works(event) -> None:
    record_event(action="patient.list")
    assert AuditEvent.objects.count() == 2


def test_the_embedded_sqlite_database_is_protected_too(tmp_path: Path) -> None:
    """Migrate a fresh SQLite database as the embedded mode does, then try to change its trail."""
    db = tmp_path / "embedded.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(DJANGO_SETTINGS_MODULE="dr_portal.settings.local", DATABASE_URL=f"sqlite:///{db}")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "audit", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=180,
    )
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO audit_auditevent (username, action, object_type, object_id, timestamp, user_agent, detail)"
            " VALUES ('u', 'patient.view', '', '', '2026-01-01', '', '{}')"
        )
        for sql in ("UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
        assert conn.execute("SELECT action FROM audit_auditevent").fetchall() == [("patient.view",)]
