from __future__ import annotations

import pytest

from dr_portal.celery import ping


@pytest.mark.worker
def test_a_task_round_trips_through_a_real_worker_and_redis(celery_worker_process) -> None:  # type: ignore[no-untyped-def]
    assert ping.delay().get(timeout=30) == "pong"
    assert celery_worker_process.poll() is None


def test_grading_tasks_are_routed_to_the_inference_queue(settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.CELERY_TASK_ROUTES["screening.tasks.*"] == {"queue": "inference"}
