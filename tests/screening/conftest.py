"""Screening fixtures: real fundus photographs (tiny copies), uploads, and a tiny real checkpoint.

The checkpoint is the session's tiny model trained through the ml package's own API (tests/conftest.py,
64 px, so a forward pass takes milliseconds); the tests run the real Predictor on it, never a stand-in.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "screening"
RIGHT = FIXTURES / "eyepacs_1002_right.jpg"
LEFT = FIXTURES / "eyepacs_1002_left.jpg"
GOOD_PHOTOS = sorted(FIXTURES.glob("*.jpg"))


def upload(path: Path, name: str | None = None, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type=content_type)


def image_upload(image: Image.Image, name: str, fmt: str = "JPEG", **save: object) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")


_RETAKES = itertools.count(1)


def retake(path: Path) -> SimpleUploadedFile:
    """Another photograph of the same eye: the fixture with one border pixel numbered, so its hash is new
    (the portal refuses the very pair of photographs it already holds)."""
    image = Image.open(path).convert("RGB")
    shot = next(_RETAKES)
    image.putpixel((0, 0), (shot % 256, shot // 256 % 256, 1))
    # PNG: lossless, so the numbered pixel survives (JPEG's quantisation can smooth one pixel away).
    return image_upload(image, f"{path.stem}.png", fmt="PNG")


@pytest.fixture
def right_eye() -> SimpleUploadedFile:
    return upload(RIGHT)


@pytest.fixture
def left_eye() -> SimpleUploadedFile:
    return upload(LEFT)


@pytest.fixture
def grading_checkpoint(tiny_checkpoint: Path, settings: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the portal (this process and any worker started after it) at the tiny checkpoint."""
    settings.DR_CHECKPOINT_PATH = str(tiny_checkpoint)  # type: ignore[attr-defined]
    monkeypatch.setenv("DR_CHECKPOINT_PATH", str(tiny_checkpoint))
    yield tiny_checkpoint


@pytest.fixture
def grading_worker(grading_checkpoint: Path, celery_worker_process: object) -> object:
    """A real worker process grading with the tiny checkpoint (the env var is set before it starts)."""
    return celery_worker_process


CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright, **options: object):
    """Debian's chromium, headless, as every browser test here runs it."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, **options)


@pytest.fixture
def browser_page(monkeypatch: pytest.MonkeyPatch):
    # Playwright's sync API runs an event loop in this thread; Django then refuses database calls from
    # the test (fixtures, teardown) unless told that this thread's loop is not serving async code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            yield page
        finally:
            browser.close()


def log_in(page, base_url: str, username: str, password: str) -> None:
    """Sign in through the login page, as a user does."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def open_signed_in(page, base_url: str, user, password: str, path: str) -> list[str]:
    """Sign in, open `path`, and return the list the page's script errors are collected into."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, base_url, user.username, password)
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{base_url}{path}")
    return errors


@pytest.fixture
def named_doctor(colleague: Any) -> Any:
    """The clinic's doctor (colleague) with a full name, as a signature and a FHIR Practitioner show it."""
    colleague.first_name, colleague.last_name = "Ada", "Quist"
    colleague.save()
    return colleague
