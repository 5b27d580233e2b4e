"""An attempt's heartbeat: a thread beside the grading refreshes Examination.heartbeat_at every
GRADING_HEARTBEAT_SECONDS (one conditional UPDATE), so the reconciler can tell a live grading, however long,
from one whose worker died or stopped.

A thread rather than the task's own progress points: one batch through the model is a single long call, and
a worker that is alive but slow must not look dead. Torch, PIL and the database driver release the GIL, so
the thread runs while the grading computes; a process that is stopped, or stuck holding the GIL, beats no
more, which is exactly what the reconciler must see.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection

from .attempts import Attempt, AttemptFenced, attempt_heartbeat, attempt_is_current, log_fenced

logger = logging.getLogger(__name__)


class Heartbeat:
    """Beats for one attempt until stopped; notices when the attempt is no longer current."""

    def __init__(self, attempt: Attempt, period: float) -> None:
        self.attempt = attempt
        self.period = period
        self._stopped = threading.Event()
        self._superseded = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{attempt.examination_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        # Not for long: a beat waiting on the examination's row lock (our own result being committed) ends by
        # itself, finds the attempt finished, and closes its connection.
        self._thread.join(timeout=self.period)

    def check(self) -> None:
        """At the grading's progress points: raise AttemptFenced if another attempt took the examination over,
        so a worker that woke up late stops at once instead of grading for nothing."""
        # Confirmed on the grading thread's own connection: the heartbeat's sees only committed rows.
        if self._superseded.is_set() and not attempt_is_current(attempt=self.attempt):
            log_fenced(self.attempt, "grading")
            raise AttemptFenced(str(self.attempt))

    def _run(self) -> None:
        try:
            while not self._stopped.wait(self.period):
                try:
                    if not attempt_heartbeat(attempt=self.attempt):
                        self._superseded.set()
                        return
                except DatabaseError as error:
                    # The database away for a moment: the next beat tries again on a new connection. If it stays
                    # away the heartbeat goes stale, as it should: this attempt could not save its result either.
                    logger.warning("Heartbeat of %s missed: %s", self.attempt, error)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection


@contextmanager
def beating(attempt: Attempt) -> Iterator[Heartbeat]:
    """Keep the attempt's heartbeat fresh for the duration of the block."""
    heartbeat = Heartbeat(attempt, float(settings.GRADING_HEARTBEAT_SECONDS))
    heartbeat.start()
    try:
        yield heartbeat
    finally:
        heartbeat.stop()
