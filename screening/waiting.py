"""How long an examination has waited for its grades, as the result page says it while it polls.

A stalled worker or a lost message used to leave "Queued for grading…" on screen for minutes with nothing
more said. The page now counts the time since the upload and, past GRADING_SLOW_AFTER_SECONDS, says that
the grading is taking longer than usual and that the examination is safe: the reconciler
(screening/reconcile.py) sends it again, to a worker that is up, whatever happened to the first.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from .models import Examination, Status

SLOW_MESSAGE = (
    "Taking longer than usual: the grading service may be busy or down; the examination is safe and will be graded."
)


def grading_wait(examination: Examination) -> dict[str, Any] | None:
    """For an examination still waiting (queued or running): the seconds since its upload, as words, the
    threshold and whether it is past it; None once graded or failed."""
    if examination.status not in (Status.QUEUED, Status.RUNNING):
        return None
    seconds = max(0, int((timezone.now() - examination.created_at).total_seconds()))
    slow_after: int = settings.GRADING_SLOW_AFTER_SECONDS
    return {
        "seconds": seconds,
        "text": duration_text(seconds),
        "slow_after": slow_after,
        "slow": seconds >= slow_after,
        "slow_message": SLOW_MESSAGE,
    }


def duration_text(seconds: int) -> str:
    """The wait in words ("45 s", "2 min 5 s", "1 h 3 min"), as result.js writes it while it counts on."""
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
