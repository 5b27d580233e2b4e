"""CSRF on every form, a Content-Security-Policy on every page, production settings that pass
`manage.py check --deploy`, and the API docs page served without a CDN."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.examination_data import graded_examination

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _production_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="dr_portal.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="portal.example",
    )
    return env


def test_check_deploy_passes_with_production_settings() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_enforce_https_and_secure_cookies() -> None:
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS >= 31536000,"
        " s.DEBUG)"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["True", "True", "True", "True", "False"], result.stderr


@pytest.mark.parametrize(
    ("url_name", "who"),
    [
        ("login", "owner"),
        ("logout", "owner"),
        ("patients:create", "owner"),
        ("screening:upload", "owner"),
        ("screening:review", "colleague"),
        ("patients:account_create", "clinic_admin"),
        ("patients:account_update", "clinic_admin"),
        ("patients:update", "owner"),
        ("screening:void", "owner"),
        ("screening:review_amend", "colleague"),
        ("password_change", "owner"),
    ],
)
def test_every_form_refuses_a_post_without_a_csrf_token(request, patient, url_name, who) -> None:
    user = request.getfixturevalue(who)
    args = {
        "screening:upload": [patient.pk],
        "screening:review": [graded_examination(patient=patient).pk],
        "patients:account_update": [request.getfixturevalue("owner").pk],
        "patients:update": [patient.pk],
        "screening:void": [graded_examination(patient=patient).pk],
        "screening:review_amend": [graded_examination(patient=patient).pk],
    }.get(url_name, [])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse(url_name, args=args), {"username": "x", "right_grade": 0, "left_grade": 0})
    assert response.status_code == 403
    assert b"CSRF" in response.content


def test_the_api_refuses_a_session_authenticated_write_without_csrf(owner) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="owner", password="a-test-password-2026")
    response = client.post("/api/v1/patients/", {"medical_record_number": "C-1"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_pages_carry_a_strict_content_security_policy(client, owner) -> None:
    client.force_login(owner)
    policy = client.get(reverse("patients:list"))["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"


def test_pages_refuse_framing_and_sniffing(client, owner) -> None:
    client.force_login(owner)
    response = client.get(reverse("patients:list"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_api_docs_page_loads_swagger_ui_from_our_own_static_files(client, owner) -> None:
    client.force_login(owner)
    body = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in body
    assert "cdn" not in body.lower() and "<script>" not in body.replace(" ", "") and "<style" not in body
