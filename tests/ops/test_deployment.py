"""The docker-compose deployment: what it promises (persistence, no eviction, health checks, GPU overlay),
validated by Docker's own client where one is installed, and the image's build steps run here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
GPU_OVERLAY = ROOT / "docker-compose.gpu.yml"
SECRETS = {"DJANGO_SECRET_KEY": "compose-test-secret-key", "POSTGRES_PASSWORD": "compose-test-password"}


def _services(path: Path = COMPOSE) -> dict[str, dict]:
    return yaml.safe_load(path.read_text())["services"]


def _compose_client() -> list[str] | None:
    """`docker compose` (v2 plugin) or the standalone `docker-compose`, whichever this machine has."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    client = _compose_client()
    if client is None:
        pytest.skip("no docker compose client on this machine")
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run([*client, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60)


def test_docker_compose_config_validates_the_stack_and_the_gpu_overlay() -> None:
    plain = _compose("-f", "docker-compose.yml", "config", env=SECRETS)
    assert plain.returncode == 0, plain.stderr
    with_gpu = _compose("-f", "docker-compose.yml", "-f", "docker-compose.gpu.yml", "config", env=SECRETS)
    assert with_gpu.returncode == 0, with_gpu.stderr
    worker = yaml.safe_load(with_gpu.stdout)["services"]["worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert "gpu" in device["capabilities"]


def test_docker_compose_refuses_to_start_without_the_secrets() -> None:
    result = _compose("-f", "docker-compose.yml", "config", env={})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr or "POSTGRES_PASSWORD" in result.stderr


def test_the_stack_has_every_service_with_a_health_check() -> None:
    services = _services()
    assert {"web", "worker", "beat", "postgres", "redis", "migrate"} <= set(services)
    for name in ("web", "worker", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_redis_persists_the_queue_and_never_evicts_a_task() -> None:
    command = [str(part) for part in _services()["redis"]["command"]]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(volume.endswith(":/data") for volume in _services()["redis"]["volumes"])


def test_the_database_and_the_photographs_live_on_volumes() -> None:
    services = _services()
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    for name in ("web", "worker"):
        assert "media:/data/media" in services[name]["volumes"], name
        assert services[name]["environment"]["DJANGO_MEDIA_ROOT"] == "/data/media"


def test_the_worker_grades_one_at_a_time_from_the_inference_queue_and_stops_warm() -> None:
    worker = _services()["worker"]
    command = " ".join(worker["command"])
    assert "--queues=inference,celery" in command
    assert "--concurrency=1" in command
    # Docker's stop must outwait the task's hard time limit (360 s), or a stop kills a grading mid-way.
    assert worker["stop_grace_period"] == "6m"
    overlay = _services(GPU_OVERLAY)["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert overlay[0]["driver"] == "nvidia"


def test_beat_runs_beside_the_workers_and_every_app_service_reads_the_failover_settings_defaults() -> None:
    from django.conf import settings

    services = _services()
    assert services["beat"]["command"][:4] == ["celery", "-A", "dr_portal", "beat"]
    # The pass runs in a worker and reads its thresholds there: beat alone having them would change nothing.
    for variable in (
        "GRADING_HEARTBEAT_SECONDS",
        "RECONCILE_EVERY_SECONDS",
        "RECONCILE_RUNNING_AFTER_SECONDS",
        "RECONCILE_QUEUED_AFTER_SECONDS",
    ):
        for name in ("web", "worker", "beat"):
            value = services[name]["environment"][variable]
            assert value.startswith(f"${{{variable}:-"), (name, value)
            assert float(value.split(":-")[1].rstrip("}")) == float(getattr(settings, variable)), (name, variable)


def test_the_web_service_runs_gunicorn_on_loopback_with_production_settings() -> None:
    web = _services()["web"]
    assert web["command"][0] == "gunicorn"
    assert web["environment"]["DJANGO_SETTINGS_MODULE"] == "dr_portal.settings.production"
    assert all(port.startswith("127.0.0.1:") for port in web["ports"])


def _production_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dr_portal.settings.production",
        "DJANGO_SECRET_KEY": "build-step-test-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
    }


def test_the_image_build_step_collects_static_files_with_production_settings(tmp_path: Path) -> None:
    env = _production_env(tmp_path)
    cmd = [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert any((tmp_path / "static").rglob("*.css"))


def test_the_gunicorn_config_loads_the_portal(tmp_path: Path) -> None:
    env = _production_env(tmp_path)
    cmd = [sys.executable, "-m", "gunicorn", "--check-config", "--config", "dr_portal/gunicorn.conf.py"]
    result = subprocess.run([*cmd, "dr_portal.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
