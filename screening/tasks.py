"""Celery tasks (routed to the `inference` queue by CELERY_TASK_ROUTES). Thin: ids in, services do the work."""

from __future__ import annotations

import logging
import random
import threading

from celery import Task, shared_task
from celery.signals import worker_process_init
from django.db import InterfaceError, OperationalError

from . import grading, services

logger = logging.getLogger(__name__)

# Faults that a later try can outlive: the database or the broker away for a moment, a GPU briefly
# out of memory. Anything else is treated as permanent and fails the examination with its reason.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)
MAX_RETRIES = 4


def retry_delay(retries: int) -> float:
    """Exponential backoff with jitter: about 2, 4, 8, 16 seconds."""
    return 2 ** (retries + 1) * random.uniform(0.75, 1.25)


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, TRANSIENT_ERRORS):
        return True
    # torch reports CUDA out-of-memory as a RuntimeError subclass; another batch may fit in a moment.
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


@shared_task(
    bind=True,
    name="screening.tasks.grade_examination",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def grade_examination(self: Task, examination_id: int) -> str:
    """Grade an examination's two photographs; safe to run any number of times."""
    try:
        services.examination_grade(examination_id=examination_id)
    except grading.PermanentGradingError as error:
        services.examination_fail(examination_id=examination_id, reason=str(error))
        return "failed"
    except Exception as error:
        if not _is_transient(error):
            logger.exception("Grading examination %s failed", examination_id)
            services.examination_fail(examination_id=examination_id, reason=f"Grading failed: {error}")
            return "failed"
        if self.request.retries >= MAX_RETRIES:
            services.examination_fail(
                examination_id=examination_id, reason=f"Grading failed after {MAX_RETRIES + 1} tries: {error}"
            )
            return "failed"
        logger.warning("Transient fault grading examination %s, retrying: %s", examination_id, error)
        raise self.retry(exc=error, countdown=retry_delay(self.request.retries)) from error
    return "done"


@worker_process_init.connect
def _load_model_early(**kwargs: object) -> None:
    # Load the model as the worker process starts, not on the first examination, so the first operator
    # of the day does not wait for it. In a thread: Celery gives a new pool process only a few seconds
    # (worker_proc_alive_timeout) to report itself up, and importing torch and loading a checkpoint can
    # take longer; a task arriving meanwhile waits on the predictor's lock. A failure is logged here and
    # reported by the task (the examination fails with the reason).
    threading.Thread(target=_preload, name="load-grading-model", daemon=True).start()


def _preload() -> None:
    try:
        grading.get_predictor()
    except Exception:
        logger.exception("The grading model could not be loaded at worker start")
