"""Examinations for API and access tests: built straight in the database (no worker, no model), with
real image files so the permission-checked media views have something to serve."""

from __future__ import annotations

import hashlib
import io
import itertools

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from screening.models import Examination, EyeImage, Prediction, Status


def png(colour: tuple[int, int, int] = (180, 60, 30), size: tuple[int, int] = (128, 128)) -> bytes:
    """A PNG of a few kilobytes: a gradient over the colour, so right and left differ and the pair check
    stays quiet."""
    image = Image.new("RGB", size, colour)
    image.putdata(
        [
            ((colour[0] + x) % 256, (colour[1] + y) % 256, (colour[2] + x * y) % 256)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


_SHOTS = itertools.count()


def upload(name: str, colour: tuple[int, int, int]) -> SimpleUploadedFile:
    """A new photograph on every call: one corner pixel numbers it, so two uploads never form the very pair
    already filed, which the portal refuses as a second upload of one visit."""
    image = Image.open(io.BytesIO(png(colour)))
    shot = next(_SHOTS)
    image.putpixel((0, 0), (shot % 256, shot // 256 % 256, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def prediction_for(eye: EyeImage, grade: int, score: float = 0.8, model_version: str = "test-model-1") -> Prediction:
    """An unsaved prediction as the worker stores it: `score` on the grade, the rest split evenly."""
    rest = round((1 - score) / 2, 12)  # 0.1, not 0.09999999999999998, where tests compare exact values
    confidences = [rest, rest, rest]
    confidences[grade] = score
    return Prediction(
        eye_image=eye,
        model_version=model_version,
        checkpoint_sha256="0" * 64,
        predicted_class=grade,
        confidence_no_dr=confidences[0],
        confidence_mild=confidences[1],
        confidence_proliferative=confidences[2],
    )


def graded_examination(*, patient: object, grades: tuple[int, int] = (1, 0), created_by: object = None) -> Examination:
    """A `done` examination with both photographs, a prediction per eye and a heatmap per prediction."""
    examination = Examination.objects.create(
        patient=patient, status=Status.DONE, completed_at=timezone.now(), created_by=created_by
    )
    for side, grade, colour in (("right", grades[0], (200, 40, 20)), ("left", grades[1], (20, 40, 200))):
        content = png(colour)
        digest = hashlib.sha256(content + str(examination.pk).encode()).hexdigest()
        eye = EyeImage(examination=examination, side=side, sha256=digest, format="PNG", gradable=True)
        eye.file.save(f"{digest}.png", ContentFile(content), save=False)
        # Django reads no dimensions from an unnamed ContentFile: set them, as the upload service does.
        eye.width, eye.height = 128, 128
        eye.save()
        prediction = prediction_for(eye, grade)
        prediction.heatmap.save(f"{digest[:32]}.png", ContentFile(png((90, 90, 90))), save=False)
        prediction.save()
    return examination
