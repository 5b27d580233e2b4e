"""Data migrations: what they fill in for rows stored before them."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from screening.models import Examination, EyeImage
from screening.validation import pixel_sha256

from .conftest import RIGHT

pytestmark = pytest.mark.django_db

PIXEL_HASHES = importlib.import_module("screening.migrations.0006_eyeimage_pixel_sha256")


def test_photographs_stored_before_the_pixel_hash_get_theirs(patient, owner) -> None:
    examination = Examination.objects.create(patient=patient, created_by=owner)
    stored = EyeImage(examination=examination, side="right", sha256="a" * 64, format="JPEG")
    stored.file = default_storage.save("test/before-pixel-hash.jpg", ContentFile(RIGHT.read_bytes()))
    stored.save()
    gone = EyeImage(examination=examination, side="left", sha256="b" * 64, format="JPEG")
    gone.file = default_storage.save("test/gone-since.jpg", ContentFile(RIGHT.read_bytes()))
    gone.save()
    default_storage.delete(gone.file.name)
    PIXEL_HASHES.fill_pixel_hashes(apps, None)
    hashes = dict(EyeImage.objects.values_list("side", "pixel_sha256"))
    with Image.open(RIGHT) as photograph:
        assert hashes["right"] == pixel_sha256(photograph)
    assert hashes["left"] == ""  # its file is missing: left empty, matching no upload
