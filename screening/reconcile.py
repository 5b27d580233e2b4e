"""Recovery of examinations that a lost message or a dead or stopped worker left behind.

The database is the record of what is owed; the broker only carries reminders. Two signs say a reminder is
gone, and the reconciler then marks the examination queued again (its grading task is re-sent when the pass
commits, tasks.examinations_reconcile):

- `running` with a stale heartbeat: the worker grading it refreshes Examination.heartbeat_at every
  GRADING_HEARTBEAT_SECONDS (grading/heartbeat.py); older than RECONCILE_RUNNING_AFTER_SECONDS, and that
  worker is dead or stopped. Setting it queued takes the attempt back: should that worker wake up, its
  writes are fenced off (grading/attempts.py). Late acknowledgement alone would wait for Redis's visibility
  timeout (an hour), and the filesystem broker never hands a dead worker's message out again at all.
- `queued` for longer than RECONCILE_QUEUED_AFTER_SECONDS since its last send, and the broker no longer holds
  a message for it (Redis restarted without its file, the broker down when the upload committed). One that
  waits its turn behind a backlog is left alone (the caller says which are waiting: broker.py).

Sending twice is safe: each delivery claims a new attempt and only the current attempt writes. What this module
must avoid is flooding the queue, and touching an examination that a worker is changing right now.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Examination, Status
from .stalls import end_transaction_if_stalled

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcileResult:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    # Queued past the timeout, but their message still waits in the broker: left alone.
    waiting: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        waiting = f", {len(self.waiting)} still waiting in the broker" if self.waiting else ""
        return f"{len(self.requeued)} re-queued, {len(self.failed)} given up{waiting}"


def _queued_overdue(now: datetime) -> Q:
    cutoff = now - timedelta(seconds=settings.RECONCILE_QUEUED_AFTER_SECONDS)
    return Q(status=Status.QUEUED, last_sent__lt=cutoff)


def _with_times(queryset: QuerySet[Examination]) -> QuerySet[Examination]:
    return queryset.annotate(
        last_sent=Coalesce("enqueued_at", "created_at"),
        # Rows claimed before heartbeats existed have only their start.
        last_beat=Coalesce("heartbeat_at", "started_at", "enqueued_at", "created_at"),
    )


def stale_examinations(*, now: datetime | None = None) -> QuerySet[Examination]:
    """Examinations queued past the queued timeout, or running with a heartbeat older than the running
    timeout, oldest first. The queued ones may still have a message waiting in the broker."""
    now = now or timezone.now()
    beat_cutoff = now - timedelta(seconds=settings.RECONCILE_RUNNING_AFTER_SECONDS)
    return (
        _with_times(Examination.objects.all())
        .filter(_queued_overdue(now) | Q(status=Status.RUNNING, last_beat__lt=beat_cutoff))
        .order_by("id")
    )


def queued_overdue_exists(*, now: datetime | None = None) -> bool:
    """Whether any examination is queued past the timeout: only then is the broker worth looking into."""
    return _with_times(Examination.objects.all()).filter(_queued_overdue(now or timezone.now())).exists()


def examinations_requeue(
    *, now: datetime | None = None, limit: int = 500, waiting: Collection[int] = ()
) -> ReconcileResult:
    """Mark stale examinations queued again, with the send recorded; give up (failed) on those that used up
    their attempts; leave the queued ones in `waiting` (their message is still in the broker) alone. The caller
    sends the re-queued ones' grading task once its transaction commits: one reconciler pass is
    tasks.examinations_reconcile, which does both.

    Safe to run concurrently with itself and with workers: each row is locked while it is changed, and rows a
    worker holds locked are skipped this pass rather than waited for.
    """
    now = now or timezone.now()
    requeued: list[int] = []
    failed: list[int] = []
    left: list[int] = []
    with transaction.atomic():
        end_transaction_if_stalled()
        stale = stale_examinations(now=now).select_for_update(skip_locked=True)[:limit]
        for examination in stale:
            if examination.status == Status.QUEUED and examination.pk in waiting:
                left.append(examination.pk)
                continue
            if examination.status == Status.RUNNING and examination.attempts >= settings.RECONCILE_MAX_ATTEMPTS:
                # The worker died each time (out of memory on this image, say): another try would too. Only
                # for running ones, so an operator who sets a failed examination back to queued gets a retry.
                examination.status = Status.FAILED
                examination.error = (
                    f"Grading did not finish after {examination.attempts} attempts; the worker stopped each time."
                )
                examination.completed_at = now
                examination.save(update_fields=["status", "error", "completed_at"])
                failed.append(examination.pk)
                continue
            # A running one goes back to queued: that takes its attempt back (attempts.current() no longer
            # matches), so its worker, should it wake up, writes nothing; the next claim counts on from it.
            examination.status = Status.QUEUED
            examination.enqueued_at = now
            examination.save(update_fields=["status", "enqueued_at"])
            requeued.append(examination.pk)
    result = ReconcileResult(requeued=requeued, failed=failed, waiting=left)
    if requeued or failed:
        logger.warning("Reconciled stale examinations: re-queued %s, gave up on %s", requeued, failed)
    return result
