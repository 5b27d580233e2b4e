"""The doctors' statistics page's figures for a clinic with many examinations, against a bare count.

Creates a throw-away clinic with N examinations (two photographs, a prediction each, a third of them
reviewed) spread over the last 300 days, times screening.statistics.clinic_statistics() and, as the bare
baseline, one COUNT of the same examinations; then rolls it all back. Prints figures; asserts nothing.

Needs PostgreSQL (services mode); uses its own database (created if missing).

    python bench/bench_statistics.py [--examinations 3000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.timing import median_seconds  # noqa: E402  (after the path insert)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examinations", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/dr_bench_statistics")
    return parser.parse_args()


def _setup(database: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "dr_portal.settings.test"
    os.environ["DATABASE_URL"] = database
    import psycopg

    base, name = database.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _clinic(count: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from patients.models import Clinic, Patient
    from screening.models import Examination, EyeImage, Prediction, Review, Status

    rng = random.Random(0)
    clinic = Clinic.objects.create(name=f"bench-statistics-{os.getpid()}")
    doctor = get_user_model().objects.create(username=f"bench-statistics-{os.getpid()}")
    patients = Patient.objects.bulk_create(
        Patient(clinic=clinic, medical_record_number=f"B{i}", first_name="Bench", last_name="Mark",
                date_of_birth="1960-01-01", sex="U")
        for i in range(max(1, count // 2))
    )  # fmt: skip
    now = timezone.now()
    examinations = Examination.objects.bulk_create(
        Examination(patient=patients[i % len(patients)], status=Status.DONE, completed_at=now) for i in range(count)
    )
    for examination in examinations:
        examination.created_at = now - timedelta(days=rng.randint(0, 300))
    Examination.objects.bulk_update(examinations, ["created_at"])
    images = EyeImage.objects.bulk_create(
        EyeImage(examination=e, side=side, sha256=f"{e.pk}-{side}", format="JPEG", width=8, height=8, gradable=True)
        for e in examinations
        for side in ("right", "left")
    )
    Prediction.objects.bulk_create(
        Prediction(eye_image=image, model_version="bench", checkpoint_sha256="0" * 64,
                   predicted_class=rng.randint(0, 2), confidence_no_dr=0.4, confidence_mild=0.3,
                   confidence_proliferative=0.3, inference_seconds=0.01)
        for image in images
    )  # fmt: skip
    Review.objects.bulk_create(
        Review(examination=e, doctor=doctor, right_grade=rng.randint(0, 2), left_grade=0, signed_off_at=now)
        for e in examinations[: count // 3]
    )
    return clinic


def main() -> None:
    args = _arguments()
    _setup(args.database)
    from django.db import transaction

    from screening.models import Examination
    from screening.statistics import clinic_statistics

    # Clinical records are protected from deletion: the throw-away clinic is rolled back instead.
    with transaction.atomic():
        clinic = _clinic(args.examinations)
        figures = median_seconds(lambda: clinic_statistics(clinic_id=clinic.pk), args.repeats)
        bare = median_seconds(lambda: Examination.objects.filter(patient__clinic=clinic).count(), args.repeats)
        transaction.set_rollback(True)
    print(f"{args.examinations} examinations, median of {args.repeats}")
    print(f"bare COUNT of the examinations:     {bare * 1000:8.1f} ms")
    print(f"clinic_statistics (the page's data): {figures * 1000:8.1f} ms  ({figures / bare:.0f}x the count)")


if __name__ == "__main__":
    main()
