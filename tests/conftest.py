"""Shared fixtures: three clinic users (owner, colleague, outsider) as healthchecks' tests do, and a real
Celery worker process started against the test database and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from patients.models import Role

if TYPE_CHECKING:
    from ml.train import TrainConfig

from .factories import PASSWORD, ClinicFactory, PatientFactory, UserFactory, member

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _media_root(settings: object, tmp_path_factory: pytest.TempPathFactory) -> None:
    # One media folder per session, shared with the worker process so both see the same files.
    settings.MEDIA_ROOT = str(_session_media(tmp_path_factory))  # type: ignore[attr-defined]


_MEDIA: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    # Throttle counters live in the cache, which outlives a test: every test starts from zero. Every test
    # client comes from 127.0.0.1, so the login form's count per address would otherwise run across tests.
    cache.clear()
    yield
    cache.clear()


def _session_media(factory: pytest.TempPathFactory) -> Path:
    if "path" not in _MEDIA:
        _MEDIA["path"] = factory.mktemp("media")
    return _MEDIA["path"]


ML_FIXTURES = ROOT / "tests" / "ml" / "fixtures" / "fundus"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker) -> Iterator[None]:
    """pytest-django's test database, plus a clean hand-over at the end of the session.

    The live server answers requests in daemon threads, each with its own database connection; one
    still open when the session ends stops PostgreSQL from dropping the test database (a warning, and
    a database left behind: pytest-django issue #429). Those leftover sessions are ended first.
    """
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


def tiny_config(out: Path, **changes: object) -> TrainConfig:
    """One epoch of a two-block ViT at 64 px on the fixture photographs: seconds on a CPU."""
    from ml.train import TrainConfig

    base = {
        "data": [str(ML_FIXTURES)],
        "out": str(out),
        "architecture": "vit_tiny_patch16_224",
        "image_size": 64,
        "model_kwargs": {"depth": 2, "patch_size": 8},
        "epochs": 1,
        "batch_size": 4,
        "samples_per_epoch": 8,
    }
    return TrainConfig(**(base | changes))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder from one epoch of a tiny ViT trained here (seconds), with model.safetensors in it.

    One real model for every test that grades: the tests prove the plumbing, the shipped model's quality
    is measured on the patient-disjoint test split (docs/model/)."""
    from ml.train import train

    root = tmp_path_factory.mktemp("tiny-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ML_CACHE_DIR", str(root / "cache"))
        train(tiny_config(root / "run", version="tiny-test"))
    return root / "run"


def card_copy(checkpoint: Path, folder: Path, **changes: object) -> Path:
    """A copy of the checkpoint whose sidecar card says more or otherwise. The card is checked against the
    weights' hash only, so the sidecar may carry the changes."""
    import json
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / checkpoint.name
    shutil.copy(checkpoint, target)
    card = json.loads(checkpoint.with_suffix(".json").read_text())
    target.with_suffix(".json").write_text(json.dumps(card | changes))
    return target


def paired_copy(checkpoint: Path, folder: Path, weight: float) -> Path:
    """A copy of the checkpoint with a pairing section (ml/pairing.py) added to its card."""
    return card_copy(checkpoint, folder, pairing={"weight": weight, "temperature": 1.0})


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run: Path) -> Path:
    return tiny_run / "model.safetensors"


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def clinic():
    return ClinicFactory.create(name="North Eye Clinic")


@pytest.fixture
def other_clinic():
    return ClinicFactory.create(name="South Eye Clinic")


@pytest.fixture
def owner(clinic):
    """Staff member of the clinic: registers patients and uploads examinations."""
    return member(clinic=clinic, role=Role.STAFF, username="owner")


@pytest.fixture
def colleague(clinic):
    """Doctor in the same clinic: reviews."""
    return member(clinic=clinic, role=Role.DOCTOR, username="colleague")


@pytest.fixture
def clinic_admin(clinic):
    return member(clinic=clinic, role=Role.CLINIC_ADMIN, username="clinicadmin")


@pytest.fixture
def outsider(other_clinic):
    """Doctor of another clinic: must never see the first clinic's patients."""
    return member(clinic=other_clinic, role=Role.DOCTOR, username="outsider")


@pytest.fixture
def superuser():
    return UserFactory.create(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def patient(clinic, owner):
    return PatientFactory.create(clinic=clinic, created_by=owner)


@pytest.fixture
def api_schema(owner) -> dict:
    """The published OpenAPI schema, as a signed-in user reads it (it answers nobody else)."""
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(owner)
    return api.get("/api/v1/schema/", {"format": "json"}).json()


def worker_env(media_root: Path) -> dict[str, str]:
    """The environment a worker process needs to share the test database, broker and media."""
    db = settings.DATABASES["default"]
    env = os.environ.copy()
    env.update(
        DJANGO_SETTINGS_MODULE="dr_portal.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND or settings.CELERY_BROKER_URL,
        DJANGO_MEDIA_ROOT=str(media_root),
        PYTHONUNBUFFERED="1",
    )
    return env


def start_worker(media_root: Path, log_path: Path, name: str = "test-worker") -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "celery", "-A", "dr_portal", "worker", "-Q", "inference,celery"]
    cmd += ["--concurrency", "1", "--loglevel", "INFO", "--hostname", f"{name}-{os.getpid()}@%h", "--without-gossip"]
    with log_path.open("ab") as log:
        return subprocess.Popen(cmd, cwd=ROOT, env=worker_env(media_root), stdout=log, stderr=subprocess.STDOUT)


def wait_until_ready(proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 90.0) -> None:
    """Round trip the ping task through the broker: proves the worker consumes and answers."""
    from dr_portal.celery import ping

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if ping.apply_async(expires=10).get(timeout=10) == "pong":
                return
        except Exception:
            time.sleep(0.5)
    raise RuntimeError(f"worker not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def celery_worker_process(
    transactional_db: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process on the test database and Redis. Tests using it see only
    committed data, hence transactional_db."""
    media = _session_media(tmp_path_factory)
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    _purge_queues()
    proc = start_worker(media, log_path)
    try:
        wait_until_ready(proc, log_path)
        yield proc
    finally:
        stop_worker(proc)


def _purge_queues() -> None:
    # Leftovers of an earlier, interrupted run must not be executed against this test's database.
    from dr_portal.celery import app

    with app.connection_for_write() as conn:
        channel: Any = conn.default_channel  # the Redis transport's: queue_purge is not on kombu's abstract type
        for queue in ("inference", "celery"):
            channel.queue_purge(queue)


@pytest.fixture
def audit_refuses() -> Iterator[Callable[[str], None]]:
    """Make PostgreSQL refuse audit events of one action, as a failing database would: a trigger. The tests
    using it commit for real (transaction=True), so that what a request left behind can be read after its
    refused insert; the trigger is dropped after the test."""

    def refuse(action: str) -> None:
        assert action.replace(".", "").isalpha()  # a literal in the DDL below
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit event refused (test)'; END $$"
            )
            cursor.execute(
                "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_auditevent FOR EACH ROW "
                f"WHEN (NEW.action = '{action}') EXECUTE FUNCTION test_refuse_audit()"
            )

    yield refuse
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS test_refuse_audit ON audit_auditevent")
        cursor.execute("DROP FUNCTION IF EXISTS test_refuse_audit()")
