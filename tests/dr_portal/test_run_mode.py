"""The embedded default's run mode (`manage.py runportal`, local settings) is DEBUG off: the portal's own
error pages, never Django's debug pages. The process test is tests/patients/test_runportal.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def _local_settings(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environ.update(DJANGO_SETTINGS_MODULE="dr_portal.settings.local", **env)
    script = f"import django; django.setup(); from django.conf import settings; {code}"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_the_local_settings_run_with_debug_off_unless_asked() -> None:
    assert _local_settings("print(settings.DEBUG, settings.ALLOWED_HOSTS)") == (
        "False ['127.0.0.1', 'localhost', '[::1]']"
    )
    assert _local_settings("print(settings.DEBUG)", DJANGO_DEBUG="true") == "True"


@pytest.mark.django_db
def test_a_request_for_another_host_gets_the_bad_request_page_not_a_crash() -> None:
    # Refused before the authentication middleware ran: the page's context had no user (a 500 before).
    client = Client(HTTP_HOST="portal.example.org", raise_request_exception=False)
    response = client.get("/accounts/login/")
    assert response.status_code == 400
    assert "The portal could not read this request." in response.content.decode()
