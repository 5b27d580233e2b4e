"""Failover at the default settings: how long after a fault a clinic's examination is graded (issue #23's
target: within 60 s), and whether a worker that wakes up late changes anything.

Two grading workers and `celery beat` run as docker-compose runs them, on PostgreSQL and a Redis of the
benchmark's own, started without persistence (so that a restart loses what it held). The heartbeat, the
reconciler's thresholds and beat's period are the settings' defaults. Three faults, --rounds times each:

- kill: the worker grading an examination is SIGKILLed mid-grading, with its pool process (the OOM killer,
  a lost node); the other worker must grade it.
- stop: the worker is SIGSTOPped mid-grading (a paused VM, a swap storm); the other worker grades it; the
  stopped one is then woken (SIGCONT) and must change nothing (its write fenced off).
- lost: Redis restarts while the examination's message waits in its queue behind two busy workers.

"Mid-grading": one photograph of the examination is swapped for a named pipe, so the worker that claims it
waits there with its heartbeat beating (no lock held) until the fault; the photograph is back in its place
for whoever grades it next. Each figure is the time from the fault to `done` in the database (polled every
50 ms). Prints figures; exits 1 if an examination was not graded or a woken worker changed a result.

    python bench/bench_failover.py [--rounds 3] [--checkpoint PATH] [--data DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import as_new_photograph  # noqa: E402  (after the path: run as a script)

DATA = Path("/work/shared/data/srahim-1024")
FIXTURES = ROOT / "tests" / "fixtures" / "ops" / "arranged"
TARGET_SECONDS = 60


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="times each fault is injected")
    parser.add_argument("--checkpoint", help="model to grade with (default: DR_CHECKPOINT_PATH or the shipped one)")
    parser.add_argument("--data", type=Path, default=DATA if DATA.exists() else FIXTURES, help="arranged layout")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/dr_bench_failover")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on one examination after this")
    return parser.parse_args()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Redis:
    """A redis-server of the benchmark's own, without persistence: a restart empties it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        cmd += ["--appendonly", "no", "--save", "", "--logfile", str(self.folder / "redis.log")]
        self.proc = subprocess.Popen(cmd)
        _until(self._answers, 20, "redis-server to start")

    def _answers(self) -> bool:
        import redis

        with contextlib.suppress(redis.exceptions.ConnectionError):
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:g} s")
        time.sleep(0.05)


def _configure(args: argparse.Namespace, media: Path, broker: str) -> dict[str, str]:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="dr_portal.settings.test",
        DATABASE_URL=args.database,
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=broker,
        DJANGO_MEDIA_ROOT=str(media),
        PYTHONUNBUFFERED="1",
        # Workers keep their database connection between tasks, as in production.
        DATABASE_CONN_MAX_AGE="60",
    )
    for name in ("GRADING_HEARTBEAT_SECONDS", "RECONCILE_EVERY_SECONDS", "RECONCILE_RUNNING_AFTER_SECONDS"):
        os.environ.pop(name, None)  # the defaults are what is measured
    os.environ.pop("RECONCILE_QUEUED_AFTER_SECONDS", None)
    if args.checkpoint:
        os.environ["DR_CHECKPOINT_PATH"] = str(Path(args.checkpoint).resolve())
    _create_database(args.database)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return dict(os.environ)


def _create_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def _descendants(pid: int) -> list[int]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    return []


class Process:
    """A celery worker or beat of the benchmark's, with its log."""

    def __init__(self, name: str, args: list[str], folder: Path, env: dict[str, str]) -> None:
        self.name, self.args, self.env = name, args, env
        self.log = folder / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_start = 0

    def start(self) -> None:
        self.log_start = self.log.stat().st_size if self.log.exists() else 0
        command = [sys.executable, "-m", "celery", "-A", "dr_portal", *self.args]
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT)

    def text(self) -> str:
        with self.log.open("rb") as handle:
            handle.seek(self.log_start)
            return handle.read().decode(errors="replace")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        for pid in [self.proc.pid, *_descendants(self.proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def _worker(name: str, folder: Path, env: dict[str, str]) -> Process:
    args = ["worker", "-Q", "inference,celery", "--concurrency", "1", "--loglevel", "INFO"]
    return Process(name, [*args, "--hostname", f"{name}-{os.getpid()}@%h", "--without-gossip"], folder, env)


def _ready(worker: Process) -> None:
    # "ready." once it consumes; the model is loaded at the pool process's start.
    _until(lambda: " ready." in worker.text() and "Loaded grading model" in worker.text(), 180, f"{worker.name} ready")


class PhotographOnHold:
    """The stored photograph swapped for a named pipe: the worker that reads it waits there until the fault."""

    def __init__(self, path: Path) -> None:
        self.path, self.content = path, path.read_bytes()
        self.pipe = path.with_name(path.name + ".pipe")
        path.unlink()
        os.mkfifo(path)
        os.link(path, self.pipe)

    def put_back(self) -> None:
        staged = self.path.with_name(self.path.name + ".staged")
        staged.write_bytes(self.content)
        os.replace(staged, self.path)

    def feed(self) -> bool:
        try:
            fd = os.open(self.pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False
        os.set_blocking(fd, True)
        try:
            rest = memoryview(self.content)
            while rest:
                rest = rest[os.write(fd, rest) :]
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)
        return True

    def close(self) -> None:
        if self.path.is_fifo():
            self.put_back()
        self.pipe.unlink(missing_ok=True)


class Clinic:
    """Uploads through the real service, each pair of photographs made new (the clinic refuses a pair it has)."""

    def __init__(self, folder: Path) -> None:
        from bench.bench_grading import _pairs, _user_and_patient

        self.user, self.patient = _user_and_patient()
        self.pairs = itertools.cycle(_pairs(folder, 50))

    def upload(self, *, held: bool = False) -> tuple[Any, PhotographOnHold | None]:
        """An examination, and with `held` its right photograph swapped for a pipe before the grading is sent."""
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.db import transaction

        from screening.services import examination_create

        right, left = next(self.pairs)
        files = [
            SimpleUploadedFile(path.name, as_new_photograph(path.read_bytes()), content_type="image/jpeg")
            for path in (right, left)
        ]
        # The grading task is sent when this commits: by then the photograph is on hold.
        with transaction.atomic():
            examination = examination_create(
                user=self.user, patient=self.patient, right_eye=files[0], left_eye=files[1]
            )
            hold = PhotographOnHold(Path(examination.images.get(side="right").file.path)) if held else None
        return examination, hold


def _status(examination_id: int) -> tuple[str, int]:
    from screening.models import Examination

    row = Examination.objects.values_list("status", "attempts").get(pk=examination_id)
    return str(row[0]), int(row[1])


def _result(examination_id: int) -> list[tuple[Any, ...]]:
    from django.conf import settings

    from screening.models import Prediction

    rows = Prediction.objects.filter(eye_image__examination_id=examination_id).order_by("pk")
    found = []
    for row in rows.values_list("pk", "attempt", "predicted_class", "heatmap"):
        heatmap = Path(settings.MEDIA_ROOT) / row[3]
        found.append((*row, hashlib.sha256(heatmap.read_bytes()).hexdigest() if row[3] else ""))
    return found


def _held_by(workers: list[Process], examination_id: int) -> Process:
    """The worker whose log says it claimed the examination's first attempt."""
    claimed = f"Claimed attempt 1 of examination {examination_id} "
    _until(lambda: any(claimed in worker.text() for worker in workers), 180, "a claim")
    return next(worker for worker in workers if claimed in worker.text())


def _graded(examination_id: int, since: float, timeout: float) -> float:
    _until(lambda: _status(examination_id)[0] in ("done", "failed"), timeout, f"grading of {examination_id}")
    return time.monotonic() - since


def kill_round(clinic: Clinic, workers: list[Process], timeout: float) -> dict[str, Any]:
    examination, hold = clinic.upload(held=True)
    assert hold is not None
    try:
        doomed = _held_by(workers, examination.pk)
        hold.put_back()
        doomed.kill()
        seconds = _graded(examination.pk, time.monotonic(), timeout)
    finally:
        hold.close()
    status, attempts = _status(examination.pk)
    doomed.start()
    _ready(doomed)
    return {"seconds": seconds, "ok": status == "done" and len(_result(examination.pk)) == 2, "attempts": attempts}


def stop_round(clinic: Clinic, workers: list[Process], timeout: float) -> dict[str, Any]:
    examination, hold = clinic.upload(held=True)
    assert hold is not None
    try:
        stopped = _held_by(workers, examination.pk)
        hold.put_back()
        stopped.signal(signal.SIGSTOP)
        seconds = _graded(examination.pk, time.monotonic(), timeout)
        status, attempts = _status(examination.pk)
        result = _result(examination.pk)
        stopped.signal(signal.SIGCONT)
        fenced = f"Fenced off attempt 1 of examination {examination.pk}"
        _until(lambda: hold.feed() or fenced in stopped.text(), 120, "the woken worker to go on")
        _until(lambda: fenced in stopped.text(), 120, "the woken worker's write to be fenced off")
        unchanged = _status(examination.pk) == (status, attempts) and _result(examination.pk) == result
    finally:
        hold.close()
    ok = status == "done" and len(result) == 2 and unchanged
    return {"seconds": seconds, "ok": ok, "attempts": attempts, "unchanged": unchanged}


def lost_round(clinic: Clinic, workers: list[Process], redis: Redis, timeout: float) -> dict[str, Any]:
    uploads = [clinic.upload(held=True) for _ in workers]
    busy = [examination for examination, _ in uploads]
    holds = [hold for _, hold in uploads if hold is not None]
    try:
        _until(lambda: all(_status(examination.pk)[0] == "running" for examination in busy), 180, "busy workers")
        examination, _ = clinic.upload()  # waits in Redis behind the two
        redis.stop()
        redis.start()
        lost = time.monotonic()
        for hold in holds:
            hold.put_back()
            _until(hold.feed, 60, "a busy worker to take its photograph")
        seconds = _graded(examination.pk, lost, timeout)
    finally:
        for hold in holds:
            hold.close()
    status, attempts = _status(examination.pk)
    for other in busy:
        _graded(other.pk, time.monotonic(), timeout)
    return {"seconds": seconds, "ok": status == "done" and len(_result(examination.pk)) == 2, "attempts": attempts}


def _report(results: dict[str, list[dict[str, Any]]]) -> bool:
    from django.conf import settings

    every, running = settings.RECONCILE_EVERY_SECONDS, settings.RECONCILE_RUNNING_AFTER_SECONDS
    queued, beat = settings.RECONCILE_QUEUED_AFTER_SECONDS, settings.GRADING_HEARTBEAT_SECONDS
    print(
        f"defaults: heartbeat every {beat:g} s, running handed on after {running} s without one, queued re-sent "
        f"after {queued} s when the broker has no message, reconciler every {every} s; target {TARGET_SECONDS} s"
    )
    labels = {
        "kill": ("worker SIGKILLed mid-grading", f"{running} + {every} s + grading"),
        "stop": ("worker SIGSTOPped mid-grading", f"{running} + {every} s + grading"),
        "lost": ("message lost (Redis restarted)", f"{queued} + {every} s + grading"),
    }
    print(f"{'fault':32s} {'each round (s)':>26s} {'median':>7s} {'worst':>7s}  bound")
    all_ok = True
    for fault, rounds in results.items():
        label, bound = labels[fault]
        times = [row["seconds"] for row in rounds]
        each = " ".join(f"{value:.1f}" for value in times)
        print(f"{label:32s} {each:>26s} {statistics.median(times):7.1f} {max(times):7.1f}  {bound}")
        all_ok &= all(row["ok"] for row in rounds)
        if fault == "stop":
            kept = sum(row["unchanged"] for row in rounds)
            print(f"{'':32s} woken worker fenced off, result unchanged: {kept} of {len(rounds)}")
    print("every examination graded once: " + ("yes" if all_ok else "NO"))
    return all_ok


def main() -> None:
    args = _arguments()
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as folder:
        base = Path(folder)
        (base / "media").mkdir()
        redis = Redis(base)
        redis.start()
        processes: list[Process] = []
        try:
            env = _configure(args, base / "media", redis.url)
            clinic = Clinic(args.data)
            beat = Process("beat", ["beat", "--loglevel", "INFO", "--schedule", str(base / "beat-schedule")], base, env)
            workers = [_worker("worker-a", base, env), _worker("worker-b", base, env)]
            processes = [beat, *workers]
            for process in processes:
                process.start()
            for worker in workers:
                _ready(worker)
            results: dict[str, list[dict[str, Any]]] = {"kill": [], "stop": [], "lost": []}
            for number in range(1, args.rounds + 1):
                results["kill"].append(kill_round(clinic, workers, args.timeout))
                results["stop"].append(stop_round(clinic, workers, args.timeout))
                results["lost"].append(lost_round(clinic, workers, redis, args.timeout))
                print(f"round {number}: " + ", ".join(f"{k} {v[-1]['seconds']:.1f} s" for k, v in results.items()))
        finally:
            for process in processes:
                process.stop()
            redis.stop()
        ok = _report(results)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
