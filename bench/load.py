"""Load benchmark: clinic users browse patient pages and upload examinations against the portal under
gunicorn with a real grading worker, all on loopback, for a bounded time. Prints throughput, p50/p95
latency and errors per kind of request, and whether every upload was graded.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dr_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python bench/load.py --duration 120 --users 20

It starts its own gunicorn (production settings, plain HTTP on 127.0.0.1) and Celery worker, creates the
database if missing, and provisions a bench clinic with one staff account per user and a few hundred
patients (idempotent). Each user logs in through the login form, then repeatedly (with think time)
opens the patient list (sometimes searching), a patient's page, an examination's result page, or
uploads an examination through the web form. After --duration it stops the users, waits at most
--grade-timeout for the worker to grade every upload, stops both servers and prints the figures.
Exit status 1 when a request failed or an upload was not graded; latency is reported, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLINIC = "Bench Eye Clinic"
PASSWORD = "bench-load-password-2026"
DEFAULT_IMAGES = ROOT / "tests" / "fixtures" / "ops" / "arranged"
EXAMINATION_URL = re.compile(r"/screening/examinations/(\d+)/")


@dataclass
class Sample:
    kind: str
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)
    uploaded: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample, examination_id: int | None = None) -> None:
        with self.lock:
            self.samples.append(sample)
            if examination_id is not None:
                self.uploaded.append(examination_id)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="Seconds of load (default 120)")
    parser.add_argument("--users", type=int, default=20, help="Concurrent users (default 20)")
    parser.add_argument("--think", type=float, default=1.0, help="Mean pause between a user's actions, seconds")
    parser.add_argument("--upload-share", type=float, default=0.08, help="Share of actions that are uploads")
    parser.add_argument("--patients", type=int, default=300, help="Patients in the bench clinic")
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="Folder in the arranged layout")
    parser.add_argument("--grade-timeout", type=float, default=600.0, help="Seconds to wait for grading after")
    parser.add_argument("--gunicorn-workers", type=int, default=3)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--checkpoint", help="DR_CHECKPOINT_PATH for the worker (default: the shipped model)")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def server_env(media_root: Path, args: argparse.Namespace) -> dict[str, str]:
    """Production settings, as docker-compose runs them, except TLS (loopback, plain HTTP)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dr_portal.settings.production",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnop"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_MEDIA_ROOT": str(media_root),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    if args.checkpoint:
        env["DR_CHECKPOINT_PATH"] = str(Path(args.checkpoint).resolve())
    return env


def ensure_database(url: str) -> None:
    import psycopg

    match = re.match(r"postgres(?:ql)?://(?P<auth>[^@]*)@(?P<host>[^/:]+)(?::(?P<port>\d+))?/(?P<name>\w+)$", url)
    if match is None:
        raise SystemExit(f"DATABASE_URL must be postgres://user@host:port/name, not {url!r}")
    user = match["auth"].split(":")[0]
    password = match["auth"].split(":")[1] if ":" in match["auth"] else None
    params = {"host": match["host"], "port": int(match["port"] or 5432), "user": user, "password": password}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [match["name"]]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{match["name"]}"')


def provision(args: argparse.Namespace) -> tuple[list[str], list[int]]:
    """Migrate, then the bench clinic, its staff accounts and patients (kept between runs)."""
    import datetime as dt

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from patients.models import Patient, Role
    from patients.services import clinic_user_create, patient_create

    call_command("migrate", interactive=False, verbosity=0)
    usernames = [f"bench_user_{n:02d}" for n in range(1, args.users + 1)]
    users = get_user_model().objects
    for username in usernames:
        if not users.filter(username=username).exists():
            clinic_user_create(clinic_name=CLINIC, role=Role.STAFF, username=username, password=PASSWORD)
    creator = users.get(username=usernames[0])
    rng = random.Random(args.seed)
    surnames = ["Okafor", "Lindqvist", "Raman", "Novak", "Haddad", "Moreau", "Tanaka", "Silva", "Kowalski", "Byrne"]
    existing = set(Patient.objects.filter(clinic__name=CLINIC).values_list("medical_record_number", flat=True))
    for n in range(1, args.patients + 1):
        mrn = f"BENCH-{n:05d}"
        if mrn not in existing:
            patient_create(
                user=creator,
                medical_record_number=mrn,
                first_name=f"Person{n}",
                last_name=rng.choice(surnames),
                date_of_birth=dt.date(1940 + n % 50, 1 + n % 12, 1 + n % 28),
                sex=rng.choice("FM"),
            )
    ids = list(Patient.objects.filter(clinic__name=CLINIC).order_by("id").values_list("id", flat=True))
    return usernames, ids[: args.patients]


def image_pairs(folder: Path) -> list[tuple[Path, Path]]:
    import csv

    eyes: dict[str, dict[str, Path]] = defaultdict(dict)
    with (folder / "manifest.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            eyes[row["patient_id"]][row["eye"]] = folder / row["file"]
    pairs = [(e["right"], e["left"]) for e in eyes.values() if {"right", "left"} <= set(e)]
    if not pairs:
        raise SystemExit(f"No right + left pairs in {folder}/manifest.csv")
    return pairs[:50]


def as_new_photograph(data: bytes) -> bytes:
    """The same JPEG with an 8 x 8 patch of random colour in its top-left corner (the black surround of the
    fundus), encoded again: a new photograph to the portal, of the same size and nearly the same pixels, so
    nearly the same work.

    The clinic refuses a pair of photographs it already has on file (screening.services), and a load test
    uploads a handful of fixture photographs hundreds of times: without this, all but the first few
    uploads of a run were refused (400) and the figures measured the refusal, not the upload. The check
    compares decoded pixels, so new metadata (a comment segment, as here before) no longer makes a new
    photograph; the patch is a whole JPEG block, so its brightness survives the encoding.
    """
    if not data.startswith(b"\xff\xd8"):
        return data
    from PIL import Image

    with Image.open(io.BytesIO(data)) as original:
        image = original.convert("RGB")
    colour = tuple(random.randrange(256) for _ in range(3))
    image.paste(colour, (0, 0, 8, 8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_servers(env: dict[str, str], args: argparse.Namespace, port: int, logs: Path) -> list[subprocess.Popen]:
    web_env = {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(args.gunicorn_workers),
        "GUNICORN_THREADS": str(args.gunicorn_threads),
        "GUNICORN_ACCESSLOG": os.devnull,
        # Every simulated user logs in from 127.0.0.1: the login form's limit per address is not measured.
        "LOGIN_THROTTLE_RATE": "100000/minute",
    }
    web_cmd = [sys.executable, "-m", "gunicorn", "--config", "dr_portal/gunicorn.conf.py", "dr_portal.wsgi"]
    worker_cmd = [sys.executable, "-m", "celery", "-A", "dr_portal", "worker", "-Q", "inference,celery"]
    worker_cmd += ["--concurrency", "1", "--loglevel", "WARNING", "--hostname", f"bench-{os.getpid()}@%h"]
    # One thread for the model, at a lower CPU priority (docker-compose gives the worker fewer CPU shares):
    # grading is background work, page views are someone waiting.
    worker_env = {**env, "OMP_NUM_THREADS": "1"}
    procs = []
    for cmd, proc_env, name, niceness in ((web_cmd, web_env, "gunicorn", 0), (worker_cmd, worker_env, "worker", 10)):
        log = (logs / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=proc_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda n=niceness: os.nice(n)) if niceness else None,
            )
        )
    return procs


def wait_until_up(base: str, procs: list[subprocess.Popen], logs: Path, timeout: float = 120.0) -> None:
    from dr_portal.celery import ping

    deadline = time.monotonic() + timeout
    web_up = worker_up = False
    while time.monotonic() < deadline and not (web_up and worker_up):
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"a server exited early; see the logs in {logs}")
        if not web_up:
            with contextlib.suppress(requests.RequestException):
                web_up = requests.get(f"{base}/accounts/login/", timeout=5).status_code == 200
        if not worker_up:
            with contextlib.suppress(Exception):
                worker_up = ping.apply_async(expires=10).get(timeout=5) == "pong"
        time.sleep(0.5)
    if not (web_up and worker_up):
        raise SystemExit(f"servers not up after {timeout:.0f}s (web {web_up}, worker {worker_up}); logs in {logs}")


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


class User:
    """One clinic user in a browser: cookies kept by hand, since production cookies are Secure-only and
    this bench speaks plain HTTP on loopback (TLS would end at the proxy in front)."""

    def __init__(self, base: str, username: str, patients: list[int], pairs: list[tuple[Path, Path]], seed: int):
        self.base = base
        self.username = username
        self.patients = patients
        self.pairs = pairs
        self.rng = random.Random(seed)
        self.http = requests.Session()
        self.cookies: dict[str, str] = {}
        self.examinations: list[int] = []

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        response = self.http.request(
            method, self.base + path, headers=headers, allow_redirects=False, timeout=60, **kwargs
        )
        self.cookies.update({c.name: c.value for c in response.cookies})
        self.http.cookies.clear()
        return response

    def login(self) -> None:
        self.request("GET", "/accounts/login/")
        data = {"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        response = self.request("POST", "/accounts/login/", data=data)
        if response.status_code != 302:
            raise RuntimeError(f"{self.username} could not log in: {response.status_code}")

    def act(self, results: Results, upload_share: float) -> None:
        roll = self.rng.random()
        if roll < upload_share:
            self._upload(results)
        elif roll < upload_share + 0.35:
            query = self.rng.choice(["", "", "okafor", "BENCH-001", "person1"])
            self._page(results, "list", f"/patients/?q={query}" if query else "/patients/")
        elif self.examinations and roll > 0.9:
            self._page(results, "result", f"/screening/examinations/{self.rng.choice(self.examinations)}/")
        else:
            self._page(results, "patient", f"/patients/{self.rng.choice(self.patients)}/")

    def _page(self, results: Results, kind: str, path: str) -> None:
        started = time.perf_counter()
        try:
            response = self.request("GET", path)
            ok, detail = response.status_code == 200, str(response.status_code)
        except requests.RequestException as error:
            ok, detail = False, type(error).__name__
        results.add(Sample(kind, time.perf_counter() - started, ok, detail))

    def _upload(self, results: Results) -> None:
        patient = self.rng.choice(self.patients)
        self._page(results, "upload form", f"/screening/patients/{patient}/new/")
        right, left = self.rng.choice(self.pairs)
        files = {
            "right_eye": (right.name, as_new_photograph(right.read_bytes()), "image/jpeg"),
            "left_eye": (left.name, as_new_photograph(left.read_bytes()), "image/jpeg"),
        }
        data = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), "notes": "load test"}
        started = time.perf_counter()
        examination_id = None
        try:
            response = self.request("POST", f"/screening/patients/{patient}/new/", data=data, files=files)
            match = EXAMINATION_URL.search(response.headers.get("Location", ""))
            ok, detail = response.status_code == 302 and match is not None, str(response.status_code)
            if match:
                examination_id = int(match[1])
                self.examinations.append(examination_id)
        except requests.RequestException as error:
            ok, detail = False, type(error).__name__
        results.add(Sample("upload", time.perf_counter() - started, ok, detail), examination_id)


def run_user(user: User, results: Results, deadline: float, args: argparse.Namespace) -> None:
    try:
        user.login()
    except Exception as error:
        results.add(Sample("login", 0.0, False, str(error)))
        return
    while time.monotonic() < deadline:
        user.act(results, args.upload_share)
        pause = user.rng.uniform(0.5, 1.5) * args.think
        time.sleep(max(0.0, min(pause, deadline - time.monotonic())))


def wait_for_grading(ids: list[int], timeout: float) -> tuple[dict[str, int], float]:
    from screening.models import Examination

    started = time.monotonic()
    while True:
        counts: dict[str, int] = defaultdict(int)
        for status in Examination.objects.filter(pk__in=ids).values_list("status", flat=True):
            counts[status] += 1
        if counts["done"] + counts["failed"] == len(ids) or time.monotonic() - started > timeout:
            return dict(counts), time.monotonic() - started
        time.sleep(1)


def percentile(values: list[float], fraction: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def report(results: Results, args: argparse.Namespace, elapsed: float, graded: dict[str, int], drain: float) -> bool:
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in results.samples:
        by_kind[sample.kind].append(sample)
    errors = [s for s in results.samples if not s.ok]
    servers = f"gunicorn {args.gunicorn_workers} processes x {args.gunicorn_threads} threads"
    print(f"\n{args.users} users for {elapsed:.0f} s against {servers}")
    print(f"{'kind':<12} {'requests':>8} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>7}")
    for kind in sorted(by_kind):
        samples = by_kind[kind]
        ms = [s.seconds * 1000 for s in samples]
        bad = sum(not s.ok for s in samples)
        row = f"{kind:<12} {len(samples):>8} {len(samples) / elapsed:>7.1f} {percentile(ms, 0.5):>8.0f}"
        print(f"{row} {percentile(ms, 0.95):>8.0f} {max(ms):>8.0f} {bad:>7}")
    pages = [s.seconds * 1000 for s in results.samples if s.kind in {"list", "patient", "result", "upload form"}]
    total = len(results.samples)
    print(f"{'all':<12} {total:>8} {total / elapsed:>7.1f}")
    if pages:
        print(f"page views: p50 {percentile(pages, 0.5):.0f} ms, p95 {percentile(pages, 0.95):.0f} ms (target < 300)")
    if errors:
        kinds: defaultdict[str, int] = defaultdict(int)
        for sample in errors:
            kinds[f"{sample.kind} {sample.detail}"] += 1
        print("errors: " + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())))
    else:
        print("errors: none")
    uploaded = len(results.uploaded)
    done, failed = graded.get("done", 0), graded.get("failed", 0)
    print(f"uploads: {uploaded}; graded done {done}, failed {failed}, not finished {uploaded - done - failed}")
    print(f"grading backlog drained {drain:.0f} s after the load stopped")
    every_graded = done == uploaded
    print("every upload graded: " + ("yes" if every_graded else "NO"))
    return not errors and every_graded


def main() -> int:
    args = parse_args()
    for name, scheme in (("DATABASE_URL", "postgres"), ("CELERY_BROKER_URL", "redis")):
        if not os.environ.get(name, "").startswith(scheme):
            raise SystemExit(f"Set {name} to a {scheme} URL of its own (see the docstring).")
    # The readiness check round-trips a ping task, which needs somewhere to put its answer.
    os.environ.setdefault("CELERY_RESULT_BACKEND", os.environ["CELERY_BROKER_URL"])
    ensure_database(os.environ["DATABASE_URL"])
    media = Path(tempfile.mkdtemp(prefix="dr-bench-media-"))
    logs = Path(tempfile.mkdtemp(prefix="dr-bench-logs-"))
    env = server_env(media, args)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("DJANGO_", "DR_"))})
    usernames, patients = provision(args)
    pairs = image_pairs(args.images)
    from dr_portal.celery import app

    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel  # the Redis transport's: queue_purge is not on kombu's abstract type
        channel.queue_purge("inference")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = start_servers(env, args, port, logs)
    try:
        wait_until_up(base, procs, logs)
        print(f"Portal at {base}, worker up; logs in {logs}. Load for {args.duration:.0f} s ...", flush=True)
        results = Results()
        started = time.monotonic()
        deadline = started + args.duration
        threads = [
            threading.Thread(
                target=run_user,
                args=(User(base, name, patients, pairs, args.seed + n), results, deadline, args),
                daemon=True,
            )
            for n, name in enumerate(usernames)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.duration + 120)
        elapsed = time.monotonic() - started
        print(f"Load stopped; waiting for {len(results.uploaded)} upload(s) to be graded ...", flush=True)
        graded, drain = wait_for_grading(list(results.uploaded), args.grade_timeout)
    finally:
        stop(procs)
    return 0 if report(results, args, elapsed, graded, drain) else 1


if __name__ == "__main__":
    sys.exit(main())
