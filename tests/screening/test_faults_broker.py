"""A Redis that takes connections but never answers (frozen, here stopped with SIGSTOP; a network path that
drops packets looks the same). A Redis of the test's own: the shared one is never disturbed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..conftest import ROOT
from ..ops.faults import RedisServer

SEND = "import django; django.setup(); from screening.tasks import _send_all; _send_all([1]); print('returned')"


def test_sending_a_grading_task_to_a_frozen_redis_gives_up_within_seconds(tmp_path: Path) -> None:
    """The upload sends its task in the request, after the commit: a send that waited for ever hung the
    operator's upload (and the reconciler's pass) for as long as Redis stayed frozen."""
    server = RedisServer(tmp_path)
    server.start()
    assert server.proc is not None
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dr_portal.settings.test",
        "CELERY_BROKER_URL": server.url,
        "CELERY_RESULT_BACKEND": server.url,
    }
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        sent = subprocess.run(
            [sys.executable, "-c", SEND], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        elapsed = time.monotonic() - started
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()
    assert sent.returncode == 0, sent.stderr[-2000:]
    assert "returned" in sent.stdout
    # Logged, and left for the reconciler: the examination stays queued with the send recorded.
    assert "Could not send the grading task of examination 1" in sent.stderr
    assert elapsed < 25
