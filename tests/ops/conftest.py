"""Fixtures of the ops tests: a grading model small enough to load in a second, and a way to upload an
examination through the real service."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from screening.models import Examination
from screening.services import examination_create

from ..conftest import _session_media

ARRANGED = Path(__file__).resolve().parent.parent / "fixtures" / "ops" / "arranged"
PAIRS = {
    "1000": ("0/1000_right.jpeg", "0/1000_left.jpeg"),
    "1002": ("2/1002_right.jpeg", "3/1002_left.jpeg"),
    "1008": ("3/1008_right.jpeg", "3/1008_left.jpeg"),
    "1017": ("0/1017_right.jpeg", "0/1017_left.jpeg"),
}


@pytest.fixture(scope="session")
def grading_checkpoint(tiny_checkpoint: Path) -> Path:
    """The session's tiny trained model: the fault tests prove the plumbing, not the model, and a worker
    loads it in about a second."""
    return tiny_checkpoint


@pytest.fixture
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The media folder the test process uses (conftest points MEDIA_ROOT at it); workers get it too."""
    return _session_media(tmp_path_factory)


def upload(*, user, patient, pair: str = "1002") -> Examination:
    """An examination uploaded through the real service, as the web form does."""
    right, left = PAIRS[pair]
    return examination_create(
        user=user,
        patient=patient,
        right_eye=SimpleUploadedFile(Path(right).name, (ARRANGED / right).read_bytes(), content_type="image/jpeg"),
        left_eye=SimpleUploadedFile(Path(left).name, (ARRANGED / left).read_bytes(), content_type="image/jpeg"),
    )
