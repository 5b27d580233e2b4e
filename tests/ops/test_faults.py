"""Fault tests with real worker processes: a worker killed mid-grading, Redis restarted with examinations
queued, PostgreSQL refusing connections during grading. Each ends with every examination `done` and
exactly one prediction per eye.

To catch a worker mid-grading without racing it, the test first inserts the examination's two
predictions itself in a transaction it keeps open: the worker grades, then its own insert waits on the
unique (eye image, model version) index for that transaction to end, and PostgreSQL tells us so. The fault
is injected at exactly that point, then the test rolls back, as if it had never been there. (A row lock
on the photographs would not do: Django's foreign keys are checked at commit, after the worker has sent it.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from PIL import Image

from screening.models import Examination, Prediction, Status
from screening.tasks import examinations_reconcile

from ..conftest import ROOT, stop_worker, worker_env
from .broker import broker_idle, purge, restore_unacked
from .conftest import ARRANGED, upload
from .faults import RedisServer, TcpProxy, kill_tree, prediction_slots_taken, start_worker_with, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _status(examination: Examination) -> str:
    return Examination.objects.values_list("status", flat=True).get(pk=examination.pk)


def _sides_predicted(examination: Examination) -> list[str]:
    rows = Prediction.objects.filter(eye_image__examination=examination)
    return sorted(rows.values_list("eye_image__side", flat=True))


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _other_sessions() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def grading_env(grading_checkpoint: Path) -> dict[str, str]:
    return {"DR_CHECKPOINT_PATH": str(grading_checkpoint)}


@pytest.fixture
def model_version(grading_checkpoint: Path) -> str:
    from ml.checkpoint import read_card

    return str(read_card(grading_checkpoint)["version"])


def test_a_worker_killed_mid_grading_is_replaced_and_the_examination_graded_once(
    owner, patient, media_root, grading_env, model_version, tmp_path
) -> None:
    purge("inference", "celery")
    examination = upload(user=owner, patient=patient)
    # Sessions of earlier tests (a live server's threads) may still be open: only new ones are the worker's.
    before = _other_sessions()
    doomed_log = tmp_path / "doomed.log"
    with prediction_slots_taken(examination, model_version):
        doomed = start_worker_with(media_root, doomed_log, name="doomed", env=grading_env)
        try:
            wait_for(_waiting_on_a_lock, timeout=120, what="the worker to reach its prediction insert", log=doomed_log)
            kill_tree(doomed)
        finally:
            if doomed.poll() is None:
                kill_tree(doomed)
    # The dead worker's database session rolls back once it finds its client gone.
    wait_for(lambda: _other_sessions() <= before, timeout=30, what="the killed worker's session to end")
    examination.refresh_from_db()
    assert (examination.status, examination.attempts, _sides_predicted(examination)) == (Status.RUNNING, 1, [])

    # Its message is unacknowledged in Redis until the visibility timeout (an hour): the reconciler's
    # pass, run as beat would once the running timeout has passed, sends the task again.
    later = timezone.now() + timedelta(seconds=settings.RECONCILE_RUNNING_AFTER_SECONDS + 1)
    assert examinations_reconcile(now=later).requeued == [examination.pk]

    log = tmp_path / "second.log"
    second = start_worker_with(media_root, log, name="second", env=grading_env)
    try:
        wait_for(lambda: _status(examination) == Status.DONE, timeout=120, what="grading", log=log)
        examination.refresh_from_db()
        assert _sides_predicted(examination) == ["left", "right"]
        assert examination.attempts == 2
        completed_at = examination.completed_at

        # An hour later Redis would hand the killed worker's message out again: it must change nothing.
        assert restore_unacked() == 1
        wait_for(broker_idle, timeout=60, what="the redelivered task to finish", log=log)
        examination.refresh_from_db()
        assert _sides_predicted(examination) == ["left", "right"]
        assert (examination.status, examination.completed_at) == (Status.DONE, completed_at)
    finally:
        stop_worker(second)


def test_examinations_queued_while_redis_restarts_are_all_graded_and_the_worker_reconnects(
    owner, clinic, media_root, grading_env, tmp_path
) -> None:
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    server.start()
    broker = {"CELERY_BROKER_URL": server.url, "CELERY_RESULT_BACKEND": server.url}
    worker = None
    try:
        # Uploaded with no worker running (a bulk import, through the normal path): all wait in Redis.
        cmd = [sys.executable, "manage.py", "import_photographs", str(ARRANGED), "--clinic", clinic.name]
        cmd += ["--username", owner.username, "--verbosity", "0"]
        env = {**worker_env(media_root), **broker}
        imported = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert imported.returncode == 0, imported.stderr
        examinations = list(Examination.objects.all())
        assert len(examinations) == 4
        assert {e.status for e in examinations} == {Status.QUEUED}
        assert server.queue_length("inference") == 4

        server.restart()
        assert server.queue_length("inference") == 4

        log = tmp_path / "worker.log"
        worker = start_worker_with(media_root, log, name="after-restart", env={**grading_env, **broker})
        wait_for(
            lambda: Examination.objects.filter(status=Status.DONE).count() == 4, timeout=180, what="grading", log=log
        )
        for examination in examinations:
            assert _sides_predicted(examination) == ["left", "right"]

        # Restarted again under the running worker: it reconnects and grades what is uploaded next.
        server.restart()
        later = tmp_path / "later"
        (later / "0").mkdir(parents=True)
        for eye in ("right", "left"):
            # New photographs (re-encoded): the very pair filed under patient 1000 would be refused as a mix-up.
            Image.open(ARRANGED / "0" / f"1000_{eye}.jpeg").save(later / "0" / f"2000_{eye}.jpeg", quality=80)
        (later / "manifest.csv").write_text(
            "file,grade,eye,patient_id\n0/2000_right.jpeg,0,right,2000\n0/2000_left.jpeg,0,left,2000\n"
        )
        cmd[3] = str(later)
        imported = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert imported.returncode == 0, imported.stderr
        wait_for(
            lambda: Examination.objects.filter(status=Status.DONE).count() == 5,
            timeout=120,
            what="grading after the second restart",
            log=log,
        )
        assert worker.poll() is None
    finally:
        if worker is not None:
            stop_worker(worker)
        server.stop()


def test_a_database_outage_during_grading_is_retried_until_grading_succeeds(
    owner, patient, media_root, grading_env, model_version, tmp_path
) -> None:
    purge("inference", "celery")
    db = settings.DATABASES["default"]
    proxy = TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    proxied = {"DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}"}
    examination = upload(user=owner, patient=patient)
    log = tmp_path / "worker.log"
    worker = None
    try:
        with prediction_slots_taken(examination, model_version):
            worker = start_worker_with(media_root, log, name="outage", env={**grading_env, **proxied})
            wait_for(_waiting_on_a_lock, timeout=120, what="the worker to reach its prediction insert", log=log)
            # PostgreSQL goes away mid-write: the connection drops and new ones are refused for a while.
            proxy.pause()
        time.sleep(4)
        assert _status(examination) == Status.RUNNING
        proxy.resume()
        wait_for(lambda: _status(examination) == Status.DONE, timeout=120, what="grading", log=log)
        examination.refresh_from_db()
        assert _sides_predicted(examination) == ["left", "right"]
        assert examination.error == ""
        # Celery's own words for a task it put back with a countdown; the claim counted each try.
        assert "retry: Retry in" in log.read_text()
        assert examination.attempts >= 2
    finally:
        if worker is not None:
            stop_worker(worker)
        proxy.close()


def test_examinations_uploaded_while_redis_is_down_are_sent_by_the_reconciler_once_it_is_back(
    owner, clinic, media_root, tmp_path
) -> None:
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")  # its port is chosen, nothing listens on it yet
    env = {**worker_env(media_root), "CELERY_BROKER_URL": server.url, "CELERY_RESULT_BACKEND": server.url}
    cmd = [sys.executable, "manage.py", "import_photographs", str(ARRANGED), "--clinic", clinic.name]
    cmd += ["--username", owner.username, "--verbosity", "0"]
    imported = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    # The uploads stand (queued, in the database); only the sends failed, and said so in the log.
    assert imported.returncode == 0, imported.stderr
    assert "Could not send the grading task" in imported.stderr
    assert Examination.objects.filter(status=Status.QUEUED).count() == 4

    server.start()
    try:
        # Beat's pass once the queued timeout has run out (zero here, instead of waiting fifteen minutes).
        reconcile = [sys.executable, "manage.py", "reconcile_examinations"]
        passed = subprocess.run(
            reconcile, cwd=ROOT, env={**env, "RECONCILE_QUEUED_AFTER_SECONDS": "0"}, capture_output=True, text=True
        )
        assert passed.returncode == 0, passed.stderr
        assert "4 re-queued" in passed.stdout
        assert server.queue_length("inference") == 4
    finally:
        server.stop()
