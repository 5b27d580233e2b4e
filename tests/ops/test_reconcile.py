"""The reconciler re-sends what a lost message or a dead worker left behind, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections, transaction
from django.utils import timezone

from screening.models import Examination, Status
from screening.reconcile import stale_examinations
from screening.tasks import examinations_reconcile

from ..conftest import ROOT
from .broker import drain_task_messages, purge

GRADE_TASK = "screening.tasks.grade_examination"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_queues() -> None:
    purge("inference", "celery")


def _examination(patient, *, status: str = Status.QUEUED, age: timedelta = timedelta(0), **fields) -> Examination:
    examination = Examination.objects.create(patient=patient, status=status, **fields)
    # created_at is auto_now_add: backdate it with an update, as time passing would.
    Examination.objects.filter(pk=examination.pk).update(created_at=timezone.now() - age)
    examination.refresh_from_db()
    return examination


def _queued_timeout() -> timedelta:
    return timedelta(seconds=settings.RECONCILE_QUEUED_AFTER_SECONDS)


def _running_timeout() -> timedelta:
    return timedelta(seconds=settings.RECONCILE_RUNNING_AFTER_SECONDS)


def test_it_resends_an_examination_queued_beyond_the_timeout(patient, django_capture_on_commit_callbacks) -> None:
    stuck = _examination(patient, age=_queued_timeout() + timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        result = examinations_reconcile()
    assert result.requeued == [stuck.pk]
    stuck.refresh_from_db()
    assert stuck.status == Status.QUEUED
    assert stuck.enqueued_at is not None
    assert drain_task_messages("inference") == [(GRADE_TASK, [stuck.pk])]


def test_it_leaves_a_freshly_queued_examination_alone(patient, django_capture_on_commit_callbacks) -> None:
    _examination(patient, age=_queued_timeout() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        result = examinations_reconcile()
    assert result.requeued == []
    assert drain_task_messages("inference") == []


def test_it_resends_once_per_timeout_not_on_every_pass(patient, django_capture_on_commit_callbacks) -> None:
    stuck = _examination(patient, age=_queued_timeout() * 3)
    now = timezone.now()
    sent = []
    # Each message is lost again at once (taken off the queue here), so only the timeout holds a re-send back.
    for later in (timedelta(0), _queued_timeout() / 2, _queued_timeout() + timedelta(seconds=1)):
        with django_capture_on_commit_callbacks(execute=True):
            requeued = examinations_reconcile(now=now + later).requeued
        sent.append((requeued, drain_task_messages("inference")))
    assert sent == [([stuck.pk], [(GRADE_TASK, [stuck.pk])]), ([], []), ([stuck.pk], [(GRADE_TASK, [stuck.pk])])]


def test_it_leaves_a_running_examination_with_a_fresh_heartbeat_alone_however_long_it_has_run(
    patient, django_capture_on_commit_callbacks
) -> None:
    now = timezone.now()
    # Started long ago, still beating: a slow grading, not a dead one.
    started = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    beating = _examination(patient, status=Status.RUNNING, started_at=started, heartbeat_at=now - timedelta(seconds=5))
    stale = now - _running_timeout() - timedelta(seconds=1)
    dead = _examination(patient, status=Status.RUNNING, started_at=stale, heartbeat_at=stale)
    with django_capture_on_commit_callbacks(execute=True):
        result = examinations_reconcile(now=now)
    assert result.requeued == [dead.pk]
    dead.refresh_from_db()
    beating.refresh_from_db()
    assert (dead.status, beating.status) == (Status.QUEUED, Status.RUNNING)
    assert drain_task_messages("inference") == [(GRADE_TASK, [dead.pk])]


def test_a_running_examination_without_a_heartbeat_is_judged_by_its_start(
    patient, django_capture_on_commit_callbacks
) -> None:
    # Claimed before heartbeats existed (or by a worker of the previous release during an upgrade).
    now = timezone.now()
    old = _examination(patient, status=Status.RUNNING, started_at=now - _running_timeout() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert examinations_reconcile(now=now).requeued == [old.pk]


def test_taking_back_a_stale_attempt_fences_off_its_worker(patient, django_capture_on_commit_callbacks) -> None:
    from screening.grading import attempts

    examination = _examination(patient)
    stopped = attempts.attempt_claim(examination_id=examination.pk)
    assert stopped is not None
    later = timezone.now() + _running_timeout() + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert examinations_reconcile(now=later).requeued == [examination.pk]
    # The stopped worker wakes up: neither its heartbeat nor its failure lands; the next claim counts on.
    assert attempts.attempt_heartbeat(attempt=stopped) is False
    assert attempts.attempt_fail(attempt=stopped, reason="late") is False
    examination.refresh_from_db()
    assert (examination.status, examination.error) == (Status.QUEUED, "")
    successor = attempts.attempt_claim(examination_id=examination.pk)
    assert successor is not None and successor.number == stopped.number + 1


def test_it_leaves_a_queued_examination_whose_message_still_waits_in_the_broker(
    patient, django_capture_on_commit_callbacks
) -> None:
    from screening.tasks import grade_examination

    behind_a_backlog = _examination(patient, age=_queued_timeout() * 2)
    lost = _examination(patient, age=_queued_timeout() * 2)
    grade_examination.delay(behind_a_backlog.pk)  # no worker: it waits in Redis
    with django_capture_on_commit_callbacks(execute=True):
        result = examinations_reconcile()
    assert (result.requeued, result.waiting) == ([lost.pk], [behind_a_backlog.pk])
    assert "1 still waiting in the broker" in str(result)
    # Its message, then the re-sent one: no copy of the waiting one.
    assert drain_task_messages("inference") == [(GRADE_TASK, [behind_a_backlog.pk]), (GRADE_TASK, [lost.pk])]
    with django_capture_on_commit_callbacks(execute=True):
        assert examinations_reconcile().requeued == [behind_a_backlog.pk]  # now that it is gone


def test_it_never_touches_finished_examinations(patient, django_capture_on_commit_callbacks) -> None:
    long_ago = timezone.now() - timedelta(days=2)
    _examination(patient, status=Status.DONE, age=timedelta(days=2), started_at=long_ago, completed_at=long_ago)
    _examination(patient, status=Status.FAILED, age=timedelta(days=2), started_at=long_ago, completed_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        result = examinations_reconcile()
    assert (result.requeued, result.failed) == ([], [])
    assert drain_task_messages("inference") == []


def test_it_gives_up_on_an_examination_that_killed_the_worker_every_time(
    patient, django_capture_on_commit_callbacks
) -> None:
    now = timezone.now()
    poison = _examination(
        patient,
        status=Status.RUNNING,
        started_at=now - _running_timeout() * 2,
        attempts=settings.RECONCILE_MAX_ATTEMPTS,
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = examinations_reconcile(now=now)
    assert (result.requeued, result.failed) == ([], [poison.pk])
    poison.refresh_from_db()
    assert poison.status == Status.FAILED
    assert "attempts" in poison.error
    assert poison.completed_at == now
    assert drain_task_messages("inference") == []


@pytest.mark.django_db(transaction=True)
def test_it_skips_an_examination_a_worker_holds_locked(patient) -> None:
    stuck = _examination(patient, age=_queued_timeout() * 2)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        # A worker mid-transition holds the row: the reconciler must pass it by, not wait or flip it.
        try:
            with transaction.atomic():
                Examination.objects.select_for_update().get(pk=stuck.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        assert examinations_reconcile().requeued == []
    finally:
        release.set()
        holder.join()
    assert examinations_reconcile().requeued == [stuck.pk]


def test_the_command_dry_run_lists_and_changes_nothing(patient) -> None:
    stuck = _examination(patient, age=_queued_timeout() * 2)
    out = StringIO()
    call_command("reconcile_examinations", "--dry-run", stdout=out)
    assert f"{stuck.pk}\tqueued" in out.getvalue()
    stuck.refresh_from_db()
    assert stuck.enqueued_at is None
    assert list(stale_examinations()) == [stuck]


def test_the_command_dry_run_says_which_queued_ones_still_wait_in_the_broker(patient) -> None:
    from screening.tasks import grade_examination

    waiting = _examination(patient, age=_queued_timeout() * 2)
    grade_examination.delay(waiting.pk)  # no worker: it waits in Redis
    out = StringIO()
    call_command("reconcile_examinations", "--dry-run", stdout=out)
    assert f"{waiting.pk}\tqueued\tattempts=0\tmessage still waiting in the broker" in out.getvalue()


def test_the_command_resends_stale_examinations(patient, django_capture_on_commit_callbacks) -> None:
    stuck = _examination(patient, age=_queued_timeout() * 2)
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("reconcile_examinations", stdout=out)
    assert "1 re-queued" in out.getvalue()
    assert drain_task_messages("inference") == [(GRADE_TASK, [stuck.pk])]


def test_beat_runs_the_reconciler_on_the_default_queue_not_behind_gradings() -> None:
    from dr_portal.celery import app

    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-examinations"]
    assert entry["task"] in app.tasks
    assert entry["options"]["queue"] == "celery"
    assert entry["schedule"] == settings.RECONCILE_EVERY_SECONDS


def test_the_worker_settings_never_lose_or_double_a_task() -> None:
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT < visibility / 2
    # A live grading misses at least three beats before the reconciler hands it on.
    assert settings.RECONCILE_RUNNING_AFTER_SECONDS >= 3 * settings.GRADING_HEARTBEAT_SECONDS


def test_the_defaults_hand_a_dead_or_lost_grading_on_well_within_a_minute() -> None:
    # The worst case before the re-send, leaving the rest of the minute to the grading itself.
    every = settings.RECONCILE_EVERY_SECONDS
    assert settings.RECONCILE_RUNNING_AFTER_SECONDS + every <= 30
    assert settings.RECONCILE_QUEUED_AFTER_SECONDS + every <= 40


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RECONCILE_RUNNING_AFTER_SECONDS", "10"),
        ("GRADING_HEARTBEAT_SECONDS", "0"),
        ("CELERY_VISIBILITY_TIMEOUT", "300"),
    ],
)
def test_settings_refuse_timeouts_that_would_grade_twice(variable: str, value: str) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dr_portal.settings.test", variable: value}
    code = "import django; django.setup()"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ImproperlyConfigured" in proc.stderr


def test_an_examination_an_operator_set_back_to_queued_is_sent_whatever_its_attempts(
    patient, django_capture_on_commit_callbacks
) -> None:
    retried = _examination(patient, age=_queued_timeout() * 2, attempts=settings.RECONCILE_MAX_ATTEMPTS)
    with django_capture_on_commit_callbacks(execute=True):
        result = examinations_reconcile()
    assert (result.requeued, result.failed) == ([retried.pk], [])
    assert drain_task_messages("inference") == [(GRADE_TASK, [retried.pk])]
