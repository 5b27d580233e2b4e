"""Re-send the grading task of examinations stuck queued or running: by hand after an outage (beat runs the same
pass every RECONCILE_EVERY_SECONDS)."""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand

from screening.models import Status
from screening.reconcile import stale_examinations
from screening.tasks import examinations_reconcile, waiting_in_broker


class Command(BaseCommand):
    help = (
        "Re-queue examinations queued beyond RECONCILE_QUEUED_AFTER_SECONDS whose message the broker no longer "
        "holds, and those running with a heartbeat older than RECONCILE_RUNNING_AFTER_SECONDS (beat runs the "
        "same pass every RECONCILE_EVERY_SECONDS)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="List the stale examinations, change nothing")
        parser.add_argument("--limit", type=_positive_int, default=500, help="At most this many per run")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            stale = stale_examinations()[: options["limit"]]
            waiting = waiting_in_broker() if any(e.status == Status.QUEUED for e in stale) else frozenset[int]()
            for examination in stale:
                line = f"{examination.pk}\t{examination.status}\tattempts={examination.attempts}"
                # Such a one is left alone: its message waits its turn.
                note = "\tmessage still waiting in the broker" if examination.pk in waiting else ""
                self.stdout.write(line + note)
            self.stdout.write(f"{len(stale)} stale examination(s); nothing changed.")
            return
        result = examinations_reconcile(limit=options["limit"])
        self.stdout.write(self.style.SUCCESS(f"Reconciled: {result}."))
        if result.requeued:
            self.stdout.write("Re-queued: " + ", ".join(map(str, result.requeued)))
        if result.failed:
            self.stdout.write(self.style.WARNING("Gave up on: " + ", ".join(map(str, result.failed))))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        # A negative limit reached the queryset's slice: "Negative indexing is not supported" and a traceback.
        raise ArgumentTypeError(f"must be 1 or more, not {value}")
    return value
