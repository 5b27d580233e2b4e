"""Recovery of examinations that a lost message or a dead worker left behind.

Late acknowledgement gives a task back when its worker dies, but Redis hands it out again only after the
visibility timeout (an hour), and a message lost with the broker, or never sent because the broker was
down when the upload committed, is gone for good. The database is the record of what is owed: an
examination still `queued` or `running` long after it should have finished gets its grading task sent
again. Sending twice is safe because the grading task is idempotent (one prediction per eye and model
version, enforced by a unique constraint); what this module must avoid is flooding the queue and
touching an examination that a worker is grading right now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Examination, Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcileResult:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.requeued)} re-queued, {len(self.failed)} given up"


def stale_examinations(*, now: datetime | None = None) -> QuerySet[Examination]:
    """Examinations queued or running for longer than the reconciler's timeouts, oldest first."""
    now = now or timezone.now()
    queued_cutoff = now - timedelta(seconds=settings.RECONCILE_QUEUED_AFTER_SECONDS)
    # Past the task's hard time limit a running task is certainly dead: Celery has killed it by then.
    running_cutoff = now - timedelta(seconds=settings.RECONCILE_RUNNING_AFTER_SECONDS)
    return (
        Examination.objects.annotate(last_sent=Coalesce("enqueued_at", "created_at"))
        .filter(
            Q(status=Status.QUEUED, last_sent__lt=queued_cutoff)
            | Q(status=Status.RUNNING, started_at__lt=running_cutoff)
            | Q(status=Status.RUNNING, started_at__isnull=True, last_sent__lt=running_cutoff)
        )
        .order_by("id")
    )


def examinations_requeue(*, now: datetime | None = None, limit: int = 500) -> ReconcileResult:
    """Mark stale examinations queued again, with the send recorded; give up (failed) on those that used up
    their attempts. The caller sends the re-queued ones' grading task once its transaction commits: one
    reconciler pass is tasks.examinations_reconcile, which does both.

    Safe to run concurrently with itself and with workers: each row is locked while it is changed, and
    rows a worker holds locked are skipped this pass rather than waited for.
    """
    now = now or timezone.now()
    requeued: list[int] = []
    failed: list[int] = []
    with transaction.atomic():
        stale = stale_examinations(now=now).select_for_update(skip_locked=True)[:limit]
        for examination in stale:
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
            examination.status = Status.QUEUED
            examination.enqueued_at = now
            examination.save(update_fields=["status", "enqueued_at"])
            requeued.append(examination.pk)
    result = ReconcileResult(requeued=requeued, failed=failed)
    if requeued or failed:
        logger.warning("Reconciled stale examinations: re-queued %s, gave up on %s", requeued, failed)
    return result
