"""A process stopped inside one of the grading's transactions loses its row lock after the bound, instead of
keeping the examination from every other worker until it wakes."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from screening.models import Examination
from screening.stalls import end_transaction_if_stalled, ended_while_stalled

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_session_stalled_inside_its_transaction_is_ended_and_its_lock_released(patient) -> None:
    examination = Examination.objects.create(patient=patient)
    locked, taken_over = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def stall() -> None:
        try:
            with transaction.atomic():
                end_transaction_if_stalled(seconds=1)
                Examination.objects.filter(pk=examination.pk).update(notes="written, then stopped")
                locked.set()
                taken_over.wait(timeout=120)  # stopped: not a statement until another session has the row
                Examination.objects.filter(pk=examination.pk).update(notes="woke up")
        except BaseException as error:
            outcome.append(error)
        finally:
            connection.close()

    stalled = threading.Thread(target=stall, daemon=True)
    stalled.start()
    assert locked.wait(timeout=30)
    with transaction.atomic():
        # Waits for the stalled session's lock: released by the server after the bound (a minute here would
        # mean it never was).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '60s'")
        Examination.objects.select_for_update().get(pk=examination.pk)
    taken_over.set()
    stalled.join(timeout=30)
    # Woken, it finds its session ended and its transaction rolled back; the task knows it for what it is.
    assert len(outcome) == 1 and ended_while_stalled(outcome[0]), outcome
    assert Examination.objects.values_list("notes", flat=True).get(pk=examination.pk) == ""  # rolled back


def test_other_database_errors_are_not_taken_for_a_stall() -> None:
    from django.db import OperationalError

    assert not ended_while_stalled(OperationalError("server closed the connection unexpectedly"))
    assert not ended_while_stalled(ValueError("25P03"))


def test_the_bound_holds_for_that_transaction_only() -> None:
    def current() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW idle_in_transaction_session_timeout")
            return str(cursor.fetchone()[0])

    before = current()
    with transaction.atomic():
        end_transaction_if_stalled(seconds=10)
        assert current() == "10s"
    assert current() == before
