"""The admin site as a whole answers active superusers only, and a bulk delete keeps its audit events only
if the rows really went."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection
from django.test import Client

from audit.models import AuditEvent
from patients.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/admin/", "/admin/axes/accessattempt/", "/admin/authtoken/tokenproxy/"])
def test_a_clinic_user_marked_staff_is_sent_to_the_login(owner, path: str) -> None:
    # Third-party admins (django-axes, API tokens) answered the role groups' model permissions before.
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(owner)
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_superuser_reaches_it(superuser) -> None:
    client = Client()
    client.force_login(superuser)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_bulk_delete_that_fails_leaves_no_delete_events(superuser, clinic) -> None:
    patients = [PatientFactory.create(clinic=clinic) for _ in range(2)]
    with connection.cursor() as cursor:  # the database refuses the delete, after the events were written
        cursor.execute(
            "CREATE FUNCTION test_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'delete refused (test)'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER test_refuse_delete BEFORE DELETE ON patients_patient FOR EACH ROW "
            "EXECUTE FUNCTION test_refuse_delete()"
        )
    try:
        client = Client()
        client.force_login(superuser)
        data = {"action": "delete_selected", "_selected_action": [p.pk for p in patients], "post": "yes"}
        with pytest.raises(DatabaseError):
            client.post("/admin/patients/patient/", data)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS test_refuse_delete ON patients_patient")
            cursor.execute("DROP FUNCTION IF EXISTS test_refuse_delete()")
    assert Patient.objects.count() == 2
    assert not AuditEvent.objects.filter(action="admin.delete").exists()
