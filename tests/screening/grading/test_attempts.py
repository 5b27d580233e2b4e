"""Grading attempts: each claim is a new attempt with the next number, and only the current attempt writes.
The refusal is the database's own (a conditional UPDATE first in each transaction): shown here on
PostgreSQL, with the racing transactions really interleaved, and on the embedded default's SQLite."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections, transaction

from ml.checkpoint import read_card
from screening import services
from screening.grading import worker
from screening.grading.attempts import (
    Attempt,
    AttemptFenced,
    attempt_claim,
    attempt_fail,
    attempt_heartbeat,
    examination_fail_lost,
    examination_fail_unclaimed,
)
from screening.models import Examination, Prediction, Status
from tests.embedded_sqlite import run_on_embedded_sqlite
from tests.ops.faults import prediction_slots_taken, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def examination(owner, patient, right_eye, left_eye) -> Examination:
    return services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)


def _heatmap_files() -> list[str]:
    folder = Path(settings.MEDIA_ROOT) / "heatmaps"
    return sorted(path.name for path in folder.glob("*")) if folder.exists() else []


def _predictions(examination: Examination) -> list[tuple[int, int | None, str]]:
    rows = Prediction.objects.filter(eye_image__examination=examination).order_by("pk")
    return list(rows.values_list("pk", "attempt", "heatmap"))


def test_each_claim_is_a_new_attempt_that_supersedes_the_one_before(examination) -> None:
    first = attempt_claim(examination_id=examination.pk, task_id="task-a")
    second = attempt_claim(examination_id=examination.pk, task_id="task-b")
    assert first is not None and second is not None
    assert (first.number, second.number) == (1, 2)
    examination.refresh_from_db()
    assert (examination.status, examination.attempts, examination.attempt_task_id) == (Status.RUNNING, 2, "task-b")
    assert examination.heartbeat_at is not None
    assert attempt_heartbeat(attempt=first) is False
    assert attempt_heartbeat(attempt=second) is True


def test_a_fenced_write_is_refused_and_leaves_no_prediction_and_no_heatmap(
    examination, grading_checkpoint, caplog
) -> None:
    first = attempt_claim(examination_id=examination.pk)
    second = attempt_claim(examination_id=examination.pk)
    assert first is not None and second is not None
    heatmaps_before = _heatmap_files()

    with pytest.raises(AttemptFenced):
        worker.attempt_grade(attempt=first)  # graded, then refused at its write
    assert _predictions(examination) == []
    assert _heatmap_files() == heatmaps_before
    assert f"Fenced off attempt 1 of examination {examination.pk}: its result changed nothing" in caplog.text
    assert attempt_fail(attempt=first, reason="too late") is False
    examination.refresh_from_db()
    assert (examination.status, examination.attempts, examination.error) == (Status.RUNNING, 2, "")

    worker.attempt_grade(attempt=second)
    graded = _predictions(examination)
    assert [attempt for _, attempt, _ in graded] == [2, 2]
    assert all(name.endswith("-2.jpg") for _, _, name in graded)
    examination.refresh_from_db()
    completed_at = examination.completed_at
    assert examination.status == Status.DONE

    # The superseded attempt comes back once more, after the current one finished: nothing moves.
    heatmaps_after = _heatmap_files()
    with pytest.raises(AttemptFenced):
        worker.attempt_grade(attempt=first)
    assert attempt_fail(attempt=first, reason="too late") is False
    assert attempt_heartbeat(attempt=first) is False
    assert _predictions(examination) == graded
    assert _heatmap_files() == heatmaps_after
    examination.refresh_from_db()
    assert (examination.status, examination.completed_at, examination.error) == (Status.DONE, completed_at, "")


def test_done_and_failed_examinations_are_not_claimed_again(examination) -> None:
    attempt = attempt_claim(examination_id=examination.pk)
    assert attempt is not None and attempt_fail(attempt=attempt, reason="The photograph cannot be read.")
    assert attempt_claim(examination_id=examination.pk) is None
    Examination.objects.filter(pk=examination.pk).update(status=Status.DONE)
    assert attempt_claim(examination_id=examination.pk) is None
    assert attempt_claim(examination_id=987654) is None


def test_a_task_without_an_attempt_fails_only_an_examination_no_attempt_holds(examination) -> None:
    attempt = attempt_claim(examination_id=examination.pk, task_id="holder")
    assert attempt is not None
    assert examination_fail_unclaimed(examination_id=examination.pk, reason="no claim") is False
    # The main process of a worker whose pool process died: only for the task that holds the attempt.
    assert examination_fail_lost(examination_id=examination.pk, task_id="another", reason="lost") is False
    assert examination_fail_lost(examination_id=examination.pk, task_id="", reason="lost") is False
    assert examination_fail_lost(examination_id=examination.pk, task_id="holder", reason="lost") is True
    examination.refresh_from_db()
    assert (examination.status, examination.error) == (Status.FAILED, "lost")


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


class _InThread:
    """Run a function in a thread of its own (its own database connection); keep its result or exception."""

    def __init__(self, function, *args: object) -> None:
        self.outcome: object = None
        self._thread = threading.Thread(target=self._run, args=(function, *args), daemon=True)
        self._thread.start()

    def _run(self, function, *args: object) -> None:
        try:
            self.outcome = function(*args)
        except BaseException as error:
            self.outcome = error
        finally:
            connections.close_all()

    def result(self) -> object:
        self._thread.join(timeout=60)
        return self.outcome


@pytest.fixture
def no_heartbeat_meanwhile(settings) -> None:
    # The lock waits below are counted: a heartbeat waiting on the same row would be one more.
    settings.GRADING_HEARTBEAT_SECONDS = 600


@pytest.mark.django_db(transaction=True)
def test_a_result_that_waited_on_a_newer_claim_is_refused_once_the_claim_commits(
    examination, grading_checkpoint, no_heartbeat_meanwhile
) -> None:
    first = attempt_claim(examination_id=examination.pk)
    assert first is not None
    claimed, release = threading.Event(), threading.Event()

    def claim_and_hold() -> object:
        # A second delivery's claim, not yet committed when the first attempt comes to write.
        with transaction.atomic():
            second = attempt_claim(examination_id=examination.pk)
            claimed.set()
            release.wait(timeout=60)
        return second

    claim = _InThread(claim_and_hold)
    assert claimed.wait(timeout=10)
    grading = _InThread(lambda: worker.attempt_grade(attempt=first))
    wait_for(lambda: _lock_waiters() == 1, timeout=60, what="the first attempt's write to wait on the claim")
    release.set()
    assert isinstance(grading.result(), AttemptFenced)
    second = claim.result()
    assert isinstance(second, Attempt) and second.number == 2
    assert _predictions(examination) == []
    assert Examination.objects.values_list("status", "attempts").get(pk=examination.pk) == (Status.RUNNING, 2)


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_waited_on_a_result_being_saved_finds_the_examination_done(
    examination, grading_checkpoint, no_heartbeat_meanwhile
) -> None:
    first = attempt_claim(examination_id=examination.pk)
    assert first is not None
    version = str(read_card(grading_checkpoint)["version"])
    with prediction_slots_taken(examination, version):
        # The first attempt has passed its fence and waits at its prediction insert, the row locked.
        grading = _InThread(lambda: worker.attempt_grade(attempt=first))
        wait_for(lambda: _lock_waiters() == 1, timeout=60, what="the first attempt to reach its prediction insert")
        claim = _InThread(lambda: attempt_claim(examination_id=examination.pk))
        wait_for(lambda: _lock_waiters() == 2, timeout=30, what="the second claim to wait on the row")
    assert grading.result() is None
    assert claim.result() is None  # done by the time it could look: nothing to claim
    assert [attempt for _, attempt, _ in _predictions(examination)] == [1, 1]
    assert Examination.objects.values_list("status", "attempts").get(pk=examination.pk) == (Status.DONE, 1)


# The same fencing on the embedded default's SQLite (no row locks; IMMEDIATE transactions): eight claims at
# once get eight numbers, and only the last one may write.
SQLITE = """
import json, threading
import django
django.setup()
from django.core.management import call_command
from django.db import connections
call_command("migrate", verbosity=0)
from screening.grading.attempts import attempt_claim, attempt_fail, attempt_heartbeat
from screening.models import Examination
from tests.factories import PatientFactory

examination = Examination.objects.create(patient=PatientFactory.create())
start, numbers, failures = threading.Barrier(8), [], []

def claim():
    try:
        start.wait(timeout=30)
        numbers.append(attempt_claim(examination_id=examination.pk).number)
    except Exception as error:
        failures.append(repr(error))
    finally:
        connections.close_all()

threads = [threading.Thread(target=claim) for _ in range(8)]
[thread.start() for thread in threads]
[thread.join() for thread in threads]
from screening.grading.attempts import Attempt
earlier, latest = Attempt(examination.pk, 3), Attempt(examination.pk, 8)
refused = [attempt_heartbeat(attempt=earlier), attempt_fail(attempt=earlier, reason="late")]
accepted = [attempt_heartbeat(attempt=latest), attempt_fail(attempt=latest, reason="the current one")]
row = Examination.objects.values_list("status", "attempts", "error").get(pk=examination.pk)
print(json.dumps({"numbers": sorted(numbers), "failures": failures, "refused": refused, "accepted": accepted,
                  "row": list(row)}))
"""


def test_the_fencing_holds_on_the_embedded_sqlite(tmp_path: Path) -> None:
    outcome = run_on_embedded_sqlite(SQLITE, tmp_path)
    assert outcome == {
        "numbers": [1, 2, 3, 4, 5, 6, 7, 8],
        "failures": [],
        "refused": [False, False],
        "accepted": [True, True],
        "row": ["failed", 8, "the current one"],
    }
