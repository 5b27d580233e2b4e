"""One command for a newcomer: migrate, demo accounts, a real Celery worker, beat and the web server.

The worker is kept running: should it die (out of memory, killed), it is started again, and beat's reconciler
pass hands the examination it was grading to the new one (docs/operations.md). Beat runs in a process of its
own, as in docker-compose, so a worker's death does not take the reconciler with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

# A background process that keeps dying (a broken configuration) is started again at most this often.
RESTART_PAUSE_SECONDS = 5.0


class Background:
    """A supervised background process (the worker, beat), in a process group of its own: what it leaves
    behind when it dies (a pool process, mid-grading) is stopped with it, and Ctrl-C reaches it only through
    this command, which stops it warm."""

    def __init__(self, name: str, command: list[str]) -> None:
        self.name = name
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self, out: OutputWrapper) -> None:
        out.write(f"Starting the {self.name}: " + " ".join(self.command[1:]))
        self.proc = subprocess.Popen(self.command, env=os.environ.copy(), start_new_session=True)
        self.started = time.monotonic()

    def keep_running(self, out: OutputWrapper) -> None:
        if self.proc is None or self.proc.poll() is None:
            return
        if time.monotonic() - self.started < RESTART_PAUSE_SECONDS:
            return
        out.write(f"The {self.name} stopped (exit status {self.proc.returncode}); starting it again.")
        _kill_group(self.proc)
        self.start(out)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            _kill_group(self.proc)


class Command(BaseCommand):
    help = "Run the portal: web server at ADDR:PORT plus a Celery worker on the inference queue and beat."

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
        background = [Background("grading worker", _worker_command()), Background("beat", _beat_command())]
        server: subprocess.Popen[bytes] | None = None
        try:
            for service in background:
                service.start(self.stdout)
            self.stdout.write(self.style.SUCCESS(f"Portal at http://{options['addrport']}/ (Ctrl-C stops it)"))
            server = subprocess.Popen([sys.executable, "manage.py", "runserver", options["addrport"], "--noreload"])
            code = _supervise(server, background, self.stdout)
        except KeyboardInterrupt:
            code = 0
        finally:
            if server is not None:
                _stop(server)
            for service in background:
                service.stop()
        if code:
            raise CommandError(f"The web server exited with status {code}.")


def _worker_command() -> list[str]:
    celery = [sys.executable, "-m", "celery", "-A", "dr_portal"]
    options = ["--concurrency", "1", "--loglevel", "INFO", "--hostname", "portal-worker@%h"]
    return [*celery, "worker", "-Q", "inference,celery", *options]


def _beat_command() -> list[str]:
    # The reconciler's pass every RECONCILE_EVERY_SECONDS: it re-sends what a dead worker or a lost message
    # left behind.
    celery = [sys.executable, "-m", "celery", "-A", "dr_portal"]
    return [*celery, "beat", "--loglevel", "INFO", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")]


def _supervise(server: subprocess.Popen[bytes], background: list[Background], out: OutputWrapper) -> int:
    """Wait for the web server to exit, starting a background process again whenever one dies."""
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return server.wait(timeout=1)
        for service in background:
            service.keep_running(out)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # Whatever a dead worker left in its group (its pool process, still grading an attempt that will be
    # fenced off anyway): it must not grade beside its successor.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
