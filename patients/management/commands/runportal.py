"""One command for a newcomer: migrate, demo accounts, a real Celery worker and the web server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the portal: web server at ADDR:PORT plus a Celery worker on the inference queue."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--no-demo", action="store_true", help="Skip the demo clinic and accounts")

    def handle(self, *args: Any, **options: Any) -> None:
        # Stopped with SIGTERM (kill, a process manager, timeout), Python would die at once and leave the
        # worker and the web server running; exit through the `finally` below instead.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        call_command("migrate", interactive=False, verbosity=0)
        if not options["no_demo"] and getattr(settings, "DEMO_DATA_ALLOWED", False):
            call_command("demo_data")
        worker = self._start_worker()
        self.stdout.write(self.style.SUCCESS(f"Portal at http://{options['addrport']}/ (Ctrl-C stops it)"))
        server = subprocess.Popen([sys.executable, "manage.py", "runserver", options["addrport"], "--noreload"])
        try:
            code = server.wait()
        except KeyboardInterrupt:
            code = 0
        finally:
            for proc in (server, worker):
                _stop(proc)
        if code:
            raise CommandError(f"The web server exited with status {code}.")

    def _start_worker(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "celery", "-A", "dr_portal", "worker", "-Q", "inference,celery"]
        cmd += ["--concurrency", "1", "--loglevel", "INFO", "--hostname", "portal-worker@%h"]
        # Beat inside the worker: the reconciler re-sends gradings a killed worker left behind.
        cmd += ["--beat", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")]
        self.stdout.write("Starting the grading worker: " + " ".join(cmd[1:]))
        return subprocess.Popen(cmd, env=os.environ.copy())


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
