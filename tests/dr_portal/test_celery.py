from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dr_portal.celery import ping

from ..conftest import ROOT


@pytest.mark.worker
def test_a_task_round_trips_through_a_real_worker_and_redis(celery_worker_process) -> None:
    assert ping.delay().get(timeout=30) == "pong"
    assert celery_worker_process.poll() is None


def test_grading_tasks_are_routed_to_the_inference_queue(settings) -> None:
    assert settings.CELERY_TASK_ROUTES["screening.tasks.*"] == {"queue": "inference"}


def test_a_worker_finds_every_task_beat_schedules_by_autodiscovery_alone(settings) -> None:
    # In a fresh process, as a worker starts: this one has imported every module already.
    code = "from dr_portal.celery import app; app.loader.import_default_modules(); print(' '.join(app.tasks))"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dr_portal.settings.test"}
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    registered = found.stdout.split()
    assert "screening.tasks.grade_examination" in registered
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in registered
