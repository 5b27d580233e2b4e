"""Grading attempts and their fencing: every claim of an examination by a worker is a new attempt, numbered
by Examination.attempts, and that number is a fencing token.

Each write an attempt makes (its heartbeat, its predictions with `done`, or `failed`) is an UPDATE whose
WHERE clause says "still running this very attempt", made first in its transaction, and nothing else is
written unless it matched. A later claim (a re-sent message) supersedes an earlier one, and the reconciler
takes back an attempt whose heartbeat went stale by setting the examination queued again; either way the
earlier attempt's worker, if it was only stopped (SIGSTOP, a paused VM, a swap storm) and wakes up later,
changes nothing and says so in its log.

The condition lives in the database's own UPDATE, not in Python after a read, so it holds on both engines:
on PostgreSQL the UPDATE takes the row lock, and one that waited on a concurrent claim re-checks the WHERE
clause against the committed row before it applies; on SQLite (no row locks) every transaction is
IMMEDIATE (settings), so writers take turns and each UPDATE sees the last commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from ..models import Examination, Status
from ..stalls import end_transaction_if_stalled

logger = logging.getLogger(__name__)

# A failed examination stays failed (an operator sets it back to queued to grade it again) and a done one
# done: a late or duplicate message finds nothing to claim.
CLAIMABLE = (Status.QUEUED, Status.RUNNING)
REASON_MAX_LENGTH = 2000


@dataclass(frozen=True)
class Attempt:
    examination_id: int
    number: int

    def __str__(self) -> str:
        return f"attempt {self.number} of examination {self.examination_id}"


class AttemptFenced(Exception):
    """The attempt is no longer the examination's current one: whatever it would write is refused."""


def current(attempt: Attempt) -> QuerySet[Examination]:
    """The examination, as long as it is running this attempt: what every write of the attempt updates."""
    return Examination.objects.filter(pk=attempt.examination_id, attempts=attempt.number, status=Status.RUNNING)


def attempt_claim(*, examination_id: int, task_id: str = "") -> Attempt | None:
    """Start a new grading attempt: the examination is running under the next number, which supersedes any
    earlier attempt still at work. None when there is nothing to grade (done, failed, or no such examination)."""
    now = timezone.now()
    with transaction.atomic():
        end_transaction_if_stalled()
        # One UPDATE: of two claims at once the second waits for the first and counts on from it, so each
        # gets its own number and the later one is current.
        claimed = Examination.objects.filter(pk=examination_id, status__in=CLAIMABLE).update(
            status=Status.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            attempt_task_id=task_id[:255],
        )
        if not claimed:
            return None
        number = Examination.objects.values_list("attempts", flat=True).get(pk=examination_id)
    attempt = Attempt(examination_id=examination_id, number=number)
    logger.info("Claimed %s (task %s)", attempt, task_id or "-")
    return attempt


def attempt_heartbeat(*, attempt: Attempt) -> bool:
    """Refresh the attempt's heartbeat: one UPDATE. False once the attempt is no longer current."""
    return current(attempt).update(heartbeat_at=timezone.now()) == 1


def attempt_is_current(*, attempt: Attempt) -> bool:
    return current(attempt).exists()


def attempt_fail(*, attempt: Attempt, reason: str) -> bool:
    """Mark the examination failed with a reason the operator can read, if this attempt is still current."""
    failed = current(attempt).update(
        status=Status.FAILED, error=reason[:REASON_MAX_LENGTH], completed_at=timezone.now()
    )
    if not failed:
        log_fenced(attempt, "failure")
        return False
    logger.warning("Examination %s failed (attempt %s): %s", attempt.examination_id, attempt.number, reason)
    return True


def examination_fail_unclaimed(*, examination_id: int, reason: str) -> bool:
    """Fail an examination for a task that never got to claim it (the claim itself kept failing), only while
    no attempt holds it: a task without an attempt must not overwrite the work of one."""
    failed = Examination.objects.filter(pk=examination_id, status=Status.QUEUED).update(
        status=Status.FAILED, error=reason[:REASON_MAX_LENGTH], completed_at=timezone.now()
    )
    if failed:
        logger.warning("Examination %s failed before a claim: %s", examination_id, reason)
    return failed == 1


def examination_fail_lost(*, examination_id: int, task_id: str, reason: str) -> bool:
    """Fail the examination whose task's last try died with its pool process. The worker's main process, which
    reports this, never knew the dead process's attempt number; the task id stands for it: only while the
    examination still runs the attempt that task claimed (no re-sent message has claimed it since)."""
    if not task_id:
        return False
    failed = Examination.objects.filter(pk=examination_id, status=Status.RUNNING, attempt_task_id=task_id).update(
        status=Status.FAILED, error=reason[:REASON_MAX_LENGTH], completed_at=timezone.now()
    )
    if failed:
        logger.warning("Examination %s failed: %s", examination_id, reason)
    return failed == 1


def log_fenced(attempt: Attempt, what: str) -> None:
    """Say in the worker's log that a superseded attempt's write was refused, and who holds the examination."""
    row = Examination.objects.filter(pk=attempt.examination_id).values_list("status", "attempts").first()
    now_at = f"{row[0]}, attempt {row[1]}" if row else "gone"
    logger.warning("Fenced off %s: its %s changed nothing (the examination is now %s).", attempt, what, now_at)
