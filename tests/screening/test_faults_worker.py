"""Faults of the grading worker itself, with real worker processes, PostgreSQL and Redis: a pool process
killed on every try (an examination that runs the worker out of memory), a grading too slow for the soft
time limit.

To catch the worker mid-grading without racing it, the test holds both eyes' predictions uncommitted in
another connection (as tests/ops/test_faults.py does): the worker grades, then its own insert waits on the
unique index, and PostgreSQL says so. The worker's sessions check every 100 ms that their client is still
there (client_connection_check_interval), so a killed process's session ends at once instead of holding
its locks until the test lets go.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from screening import services
from screening.models import Examination, Status
from screening.tasks import MAX_RETRIES

from ..conftest import _purge_queues, _session_media, stop_worker
from ..ops.faults import _descendants, prediction_slots_taken, start_worker_with, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def _row(examination: Examination) -> tuple[str, int, str]:
    return Examination.objects.values_list("status", "attempts", "error").get(pk=examination.pk)


def _worker_env(checkpoint: Path, **extra: str) -> dict[str, str]:
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    # A killed process's session must end (and drop its row locks) at once, not when the test lets go.
    options = "?options=-c%20client_connection_check_interval%3D100"
    return {"DR_CHECKPOINT_PATH": str(checkpoint), "DATABASE_URL": url + options, **extra}


def _kill_pool_processes(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL the pool process(es), as the OOM killer does, and leave the main worker process alone."""
    for pid in _descendants(worker.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def model_version(grading_checkpoint: Path) -> str:
    from ml.checkpoint import read_card

    return str(read_card(grading_checkpoint)["version"])


@pytest.fixture
def examination(owner, patient, right_eye, left_eye) -> Examination:
    _purge_queues()
    return services.examination_create(user=owner, patient=patient, right_eye=right_eye, left_eye=left_eye)


def test_an_examination_that_kills_the_worker_every_time_ends_failed_with_a_reason(
    examination, grading_checkpoint, model_version, tmp_path_factory
) -> None:
    """Late acknowledgement hands the message back each time the pool process dies; without a bound the
    examination would be claimed, killed and handed out again for ever (each claim resets its start, so
    the reconciler never finds it stale either)."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    media = _session_media(tmp_path_factory)
    worker = start_worker_with(media, log, name="oom", env=_worker_env(grading_checkpoint))
    try:
        with prediction_slots_taken(examination, model_version):
            for attempt in range(1, MAX_RETRIES + 2):
                wait_for(
                    lambda n=attempt: _lock_waiters() == 1 and _row(examination)[1] == n,
                    timeout=60,
                    what=f"attempt {attempt} to reach its prediction insert",
                    log=log,
                )
                _kill_pool_processes(worker)
                wait_for(lambda: _lock_waiters() == 0, timeout=10, what="the killed session to end", log=log)
            wait_for(lambda: _row(examination)[0] == Status.FAILED, timeout=30, what="the examination to fail", log=log)
        _, attempts, error = _row(examination)
        assert attempts == MAX_RETRIES + 1
        assert error.startswith("Grading failed after 5 tries: the worker process stopped while grading (")
        assert "signal 9 (SIGKILL)" in error
        # And it stays failed: no delivery is left to claim it again.
        time.sleep(3)
        assert _row(examination)[:2] == (Status.FAILED, attempts)
        assert worker.poll() is None
    finally:
        stop_worker(worker)


def _send_when_loaded(worker_log: Path, examination: Examination, **limits: float) -> None:
    """Send the grading task with these time limits once the worker's model is loaded: the limits are the
    sender's (stamped on the message), and a limit must not run out while the model loads."""
    from screening.tasks import grade_examination

    wait_for(lambda: "Loaded grading model" in worker_log.read_text(), timeout=60, what="the model", log=worker_log)
    grade_examination.apply_async(args=[examination.pk], **limits)


def test_a_grading_past_the_soft_time_limit_fails_with_a_readable_reason(
    examination, grading_checkpoint, model_version, tmp_path_factory
) -> None:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    _purge_queues()  # the upload's own message, sent with the default limits
    worker = start_worker_with(_session_media(tmp_path_factory), log, name="slow", env=_worker_env(grading_checkpoint))
    try:
        with prediction_slots_taken(examination, model_version):
            _send_when_loaded(log, examination, soft_time_limit=2, time_limit=30)
            wait_for(lambda: _row(examination)[0] == Status.FAILED, timeout=20, what="the soft limit", log=log)
        assert _row(examination) == (Status.FAILED, 1, "Grading took longer than its time limit (2 s) and was stopped.")
    finally:
        stop_worker(worker)
