"""Celery tasks and every send of the grading task. Thin: ids in, services do the work.

grade_examination is routed to the `inference` queue by CELERY_TASK_ROUTES; reconcile_examinations, run by
beat, to the default queue (its name is outside screening.tasks.*), so it never waits behind gradings."""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded, WorkerLostError
from celery import Task, shared_task
from celery.signals import task_failure, worker_process_init
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from . import broker, reconcile
from .grading import attempts, bridge, worker
from .models import Examination
from .stalls import ended_while_stalled

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
# A pool process that died mid-grading (out of memory, killed) is retried after this many seconds, from the
# same budget of tries as a transient fault, so that an examination that kills the worker every time ends.
WORKER_LOST_RETRY_DELAY = 2


def examination_enqueue(examination: Examination) -> None:
    """Record the send and send the grading task once the current transaction commits."""
    examination.enqueued_at = timezone.now()
    examination.save(update_fields=["enqueued_at"])
    examination_id = examination.pk
    transaction.on_commit(lambda: _send_all([examination_id]))


def examinations_reconcile(*, now: datetime | None = None, limit: int = 500) -> reconcile.ReconcileResult:
    """One reconciler pass: re-queue the stale examinations (reconcile.examinations_requeue) and re-send
    their grading task once the pass commits. Give up (failed) on those that used up their attempts. A queued
    one whose message still waits in the broker is left to wait (looked up only when one is overdue)."""
    now = now or timezone.now()
    waiting = waiting_in_broker() if reconcile.queued_overdue_exists(now=now) else frozenset[int]()
    with transaction.atomic():
        result = reconcile.examinations_requeue(now=now, limit=limit, waiting=waiting)
        if result.requeued:
            transaction.on_commit(lambda: _send_all(result.requeued))
    return result


def waiting_in_broker() -> frozenset[int]:
    """The examinations whose grading message waits in the broker's queue; empty where that cannot be known
    (an unknown transport, the broker unreachable): every overdue one is then re-sent."""
    app = grade_examination.app
    queue = app.amqp.router.route({}, grade_examination.name)["queue"].name
    try:
        with app.connection_for_read() as connection:
            found = broker.waiting_task_args(connection, queue=queue, task=grade_examination.name)
    except Exception:
        logger.warning("Could not look into the broker's %s queue; re-sending every overdue examination", queue)
        return frozenset()
    return frozenset(int(args[0]) for args in found or [] if args and isinstance(args[0], int))


def _send_all(examination_ids: list[int]) -> None:
    for examination_id in examination_ids:
        try:
            grade_examination.delay(examination_id)
        except Exception:
            # Broker down: the examination stays queued with this send recorded, and the next pass after
            # the queued timeout tries again. One failed send must not stop the others.
            logger.exception("Could not send the grading task of examination %s", examination_id)


def retry_delay(retries: int) -> float:
    """Exponential backoff with jitter: about 2, 4, 8, 16 seconds."""
    return 2.0 ** (retries + 1) * random.uniform(0.75, 1.25)


def _is_transient(error: BaseException) -> bool:
    # A session PostgreSQL ended because this worker stalled inside a transaction (stalls.py) is a database
    # fault like a dropped connection: nothing of the transaction was written, and the retry's claim finds the
    # examination done, or grades it as a new attempt.
    if isinstance(error, TRANSIENT_ERRORS) or ended_while_stalled(error):
        return True
    # torch reports CUDA out-of-memory as a RuntimeError subclass; another batch may fit in a moment.
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


# celery-types does not know retry_on_worker_lost (Celery 5.5): no overload matches, and the task is untyped.
@shared_task(  # type: ignore[call-overload, untyped-decorator]
    bind=True,
    name="screening.tasks.grade_examination",
    acks_late=True,
    reject_on_worker_lost=True,
    # Without this, the message of a pool process that died went straight back on the queue, for ever: an
    # examination that runs the worker out of memory was claimed and killed again and again, and each claim
    # reset its start time, so the reconciler never found it stale either. As a retry, each death counts;
    # after the last one the worker's main process fails the examination (_record_lost_grading).
    retry_on_worker_lost=True,
    default_retry_delay=WORKER_LOST_RETRY_DELAY,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def grade_examination(self: Task[Any, Any], examination_id: int) -> str:
    """Grade an examination's two photographs as a new attempt; safe to run any number of times."""
    attempt: attempts.Attempt | None = None
    try:
        attempt = attempts.attempt_claim(examination_id=examination_id, task_id=self.request.id or "")
        if attempt is None:
            return "done"  # done already, failed, or no such examination
        worker.attempt_grade(attempt=attempt)
    except attempts.AttemptFenced:
        return "fenced"  # a later attempt holds the examination; the worker's log says so
    except bridge.PermanentGradingError as error:
        return _fail(examination_id, attempt, str(error))
    except SoftTimeLimitExceeded:
        # A retry would be as slow; its str() is "SoftTimeLimitExceeded()", which tells the operator nothing.
        limit = (self.request.timelimit or (None, None))[1] or self.soft_time_limit
        return _fail(examination_id, attempt, _too_slow(limit))
    except Exception as error:
        if not _is_transient(error):
            logger.exception("Grading examination %s failed", examination_id)
            return _fail(examination_id, attempt, f"Grading failed: {error}")
        if self.request.retries >= MAX_RETRIES:
            return _fail(examination_id, attempt, f"Grading failed after {MAX_RETRIES + 1} tries: {error}")
        logger.warning("Transient fault grading examination %s, retrying: %s", examination_id, error)
        raise self.retry(exc=error, countdown=retry_delay(self.request.retries)) from error
    return "done"


def _fail(examination_id: int, attempt: attempts.Attempt | None, reason: str) -> str:
    if attempt is None:  # the claim itself failed: fail it only if no attempt holds it
        attempts.examination_fail_unclaimed(examination_id=examination_id, reason=reason)
        return "failed"
    return "failed" if attempts.attempt_fail(attempt=attempt, reason=reason) else "fenced"


def _too_slow(limit: float | None) -> str:
    if not limit:
        return "Grading took longer than its time limit and was stopped."
    return f"Grading took longer than its time limit ({limit:g} s) and was stopped."


@shared_task(name="screening.reconcile_examinations", ignore_result=True)
def reconcile_examinations() -> str:
    """Periodic (beat) entry point of the reconciler."""
    return str(examinations_reconcile())


@task_failure.connect
def _record_lost_grading(
    sender: Task[Any, Any] | None = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: list[Any] | None = None,
    **kwargs: object,
) -> None:
    """Fail the examination whose pool process died on its last try (retry_on_worker_lost gave up). Runs in
    the worker's main process, the only one left to say why."""
    if sender is None or sender.name != grade_examination.name or not args:
        return
    if not isinstance(exception, WorkerLostError):
        return  # raised inside the task, which has recorded what it could
    reason = f"Grading failed after {MAX_RETRIES + 1} tries: the worker process stopped while grading ({exception})."
    try:
        # Only while the attempt that task claimed is still the current one: a re-sent message may hold it now.
        attempts.examination_fail_lost(examination_id=int(args[0]), task_id=task_id or "", reason=reason)
    finally:
        # The main process forks the next pool processes: none of them may inherit this connection.
        connection.close()


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
        bridge.get_predictor()
    except Exception:
        logger.exception("The grading model could not be loaded at worker start")
