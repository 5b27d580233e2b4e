"""Upload-to-done through the real worker vs the model's own compute time for the same examination.

For each examination (a real right + left pair at full size): the clock starts before
screening.services.examination_create() (validation, hashing, quality check, storage, enqueue) and stops
when the database says `done`; the model's compute time is what the Predictor measured for that same
examination's batch inside the worker (both eyes, preprocessing and heatmaps included). Target: the
median ratio at most 1.5. Prints figures, asserts nothing.

Needs PostgreSQL and Redis (services mode); uses its own database (created if missing) and media folder.

    python bench/bench_grading.py [--checkpoint PATH] [--exams 12] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = Path("/work/shared/data/srahim-1024")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="model to grade with (default: DR_CHECKPOINT_PATH or the shipped one)")
    parser.add_argument("--exams", type=int, default=12, help="examinations to time (after one warm-up)")
    parser.add_argument("--data", type=Path, default=DATA, help="a folder in the arranged layout with manifest.csv")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/dr_bench_grading")
    parser.add_argument("--broker", default=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/3"))
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        help="processes kept busy on the CPU while the examinations are timed (a web server, another job)",
    )
    return parser.parse_args()


def _configure(args: argparse.Namespace, media: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "dr_portal.settings.test"
    os.environ["DATABASE_URL"] = args.database
    os.environ["CELERY_BROKER_URL"] = args.broker
    os.environ["CELERY_RESULT_BACKEND"] = args.broker
    os.environ["DJANGO_MEDIA_ROOT"] = str(media)
    # The worker keeps its database connection between tasks, as in production (production.py's
    # default); otherwise each grading would open a PostgreSQL connection first.
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")
    if args.checkpoint:
        os.environ["DR_CHECKPOINT_PATH"] = str(Path(args.checkpoint).resolve())
    _create_database(args.database)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _create_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def _pairs(folder: Path, count: int) -> list[tuple[Path, Path]]:
    eyes: dict[str, dict[str, Path]] = {}
    with (folder / "manifest.csv").open() as handle:
        for row in csv.DictReader(handle):
            eyes.setdefault(row["patient_id"], {})[row["eye"]] = folder / row["file"]
    pairs = [(e["right"], e["left"]) for e in eyes.values() if "right" in e and "left" in e]
    return pairs[:count]


def _start_worker(log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "dr_portal", "worker", "-Q", "inference"]
    command += ["--concurrency", "1", "--loglevel", "WARNING", "--hostname", f"bench-{os.getpid()}@%h"]
    command += ["--without-gossip", "--without-mingle"]
    with log.open("ab") as handle:
        return subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=handle, stderr=subprocess.STDOUT)


def _spin() -> None:
    while True:
        pass


def _busy(count: int) -> list[multiprocessing.Process]:
    """Processes that keep `count` CPU threads busy, as other work on the same machine would."""
    workers = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(count)]
    for worker in workers:
        worker.start()
    return workers


def _user_and_patient():
    import datetime as dt

    from patients.services import clinic_user_create, patient_create

    password = secrets.token_urlsafe(16)
    user, _, _ = clinic_user_create(
        clinic_name=f"Benchmark clinic {secrets.token_hex(4)}",
        role="staff",
        username=f"bench-{secrets.token_hex(4)}",
        password=password,
    )
    patient = patient_create(
        user=user,
        medical_record_number=f"BENCH-{secrets.token_hex(4)}",
        first_name="Bench",
        last_name="Mark",
        date_of_birth=dt.date(1960, 1, 1),
        sex="U",
    )
    return user, patient


def _grade_one(user, patient, right: Path, left: Path, timeout: float = 300.0) -> dict[str, float]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from screening.models import Examination, Prediction, Status
    from screening.services import examination_create

    right_file = SimpleUploadedFile(right.name, right.read_bytes(), content_type="image/jpeg")
    left_file = SimpleUploadedFile(left.name, left.read_bytes(), content_type="image/jpeg")
    started = time.perf_counter()
    examination = examination_create(user=user, patient=patient, right_eye=right_file, left_eye=left_file)
    uploaded = time.perf_counter()
    uploaded_wall = time.time()  # the database's timestamps below are wall-clock too
    status = Status.QUEUED
    while status not in (Status.DONE, Status.FAILED):
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"examination {examination.pk} not graded within {timeout}s")
        time.sleep(0.005)
        status = Examination.objects.filter(pk=examination.pk).values_list("status", flat=True).get()
    done = time.perf_counter()
    done_wall = time.time()
    if status == Status.FAILED:
        examination.refresh_from_db()
        raise RuntimeError(f"grading failed: {examination.error}")
    # inference_seconds is the batch's wall time shared equally between the two eyes.
    model = sum(
        Prediction.objects.filter(eye_image__examination=examination).values_list("inference_seconds", flat=True)
    )
    started_at, completed_at = (
        Examination.objects.filter(pk=examination.pk).values_list("started_at", "completed_at").get()
    )
    return {
        "total": done - started,
        "upload": uploaded - started,
        "model": model,
        # Upload returned -> the worker claimed the task (commit, broker hop, the worker's own dispatch).
        "queue": started_at.timestamp() - uploaded_wall,
        "worker": (completed_at - started_at).total_seconds(),
        # The worker's commit -> this loop saw `done` (its 5 ms polling).
        "notice": done_wall - completed_at.timestamp(),
    }


def main() -> None:
    args = _arguments()
    with tempfile.TemporaryDirectory(prefix="bench-media-") as media:
        _configure(args, Path(media))
        from dr_portal.celery import app
        from screening.grading.bridge import checkpoint_path

        with app.connection_for_write() as connection:
            channel: Any = connection.default_channel  # the Redis transport's: queue_purge is not on kombu's type
            channel.queue_purge("inference")
        pairs = _pairs(args.data, args.exams + 1)
        user, patient = _user_and_patient()
        worker = _start_worker(Path(media) / "worker.log")
        try:
            # Warm-up: the worker loads the model when its process starts; this also waits for that.
            _grade_one(user, patient, *pairs[0])
            load = _busy(args.busy)
            try:
                rows = [_grade_one(user, patient, right, left) for right, left in pairs[1:]]
            finally:
                for process in load:
                    process.terminate()
        finally:
            worker.terminate()
            worker.wait(timeout=60)
        _report(rows, checkpoint_path(), args)
        _report_stages(user, pairs[1:])


def _stage_times(examination, right: Path, left: Path) -> dict[str, float]:
    """The stages of one examination, each timed alone in this process (the worker's side on its stored files)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from screening import quality
    from screening.grading import bridge
    from screening.grading.worker import _encode_overlay
    from screening.validation import check_upload, pair_warning

    times: dict[str, float] = {}

    def timed(name: str, run):
        started = time.perf_counter()
        result = run()
        times[name] = time.perf_counter() - started
        return result

    files = [SimpleUploadedFile(p.name, p.read_bytes(), content_type="image/jpeg") for p in (right, left)]
    checked = timed(
        "upload: decode + check both",
        lambda: [check_upload(f, eye=e) for f, e in zip(files, ("right", "left"), strict=True)],
    )
    timed("upload: pair warning", lambda: pair_warning(*checked))
    timed("upload: quality check both", lambda: [quality.assess(c.image) for c in checked])
    eyes = list(examination.images.order_by("-side"))  # right, left
    photographs = timed("worker: read + decode both", lambda: [bridge.open_eye_image(eye) for eye in eyes])
    _, results = timed("worker: Predictor.predict", lambda: bridge.predict(photographs, ["right", "left"]))
    timed("worker: encode both overlays", lambda: [_encode_overlay(result) for result in results])
    return times


def _report_stages(user, pairs: list[tuple[Path, Path]]) -> None:
    from screening.models import Examination, Status

    # The graded examinations in upload order, the warm-up first: each timed pair with its own examination.
    graded = list(Examination.objects.filter(created_by=user, status=Status.DONE).order_by("pk"))[1:]
    rows = [_stage_times(exam, right, left) for exam, (right, left) in zip(graded, pairs[:5], strict=False)]
    print("stages (median of 5 examinations, each stage timed alone in the benchmark process):")
    for name in rows[0]:
        print(f"  {name:32s} {statistics.median(row[name] for row in rows) * 1000:8.1f} ms")


def _report(rows: list[dict[str, float]], checkpoint: Path, args: argparse.Namespace) -> None:
    import torch

    print(f"checkpoint: {checkpoint}")
    print(f"data: {args.data} ({len(rows)} examinations, 2 photographs each), torch threads {torch.get_num_threads()}")
    print(f"busy processes beside: {args.busy}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    columns = ("total", "upload", "queue", "worker", "notice", "model")
    print(f"{'exam':>4} " + " ".join(f"{name + ' ms':>10}" for name in columns) + f" {'ratio':>6}")
    for index, row in enumerate(rows, 1):
        cells = " ".join(f"{row[name] * 1000:10.1f}" for name in columns)
        print(f"{index:>4} {cells} {row['total'] / row['model']:6.2f}")
    ratios = [row["total"] / row["model"] for row in rows]
    total = statistics.median(row["total"] for row in rows) * 1000
    model = statistics.median(row["model"] for row in rows) * 1000
    for name in ("upload", "queue", "worker", "notice"):
        print(f"median {name:7s} {statistics.median(row[name] for row in rows) * 1000:8.1f} ms")
    print(f"median upload->done {total:.1f} ms, model {model:.1f} ms, overhead {total - model:.1f} ms")
    print(f"median ratio upload->done / model compute: {statistics.median(ratios):.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
