"""Unusual but legitimate photographs: each is accepted and checked on the pixels a viewer sees, or
refused with a message naming the eye; never a 500, and the worker reads what was checked."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image, ImageDraw

from screening import quality, services
from screening.grading import bridge
from screening.models import Examination, EyeImage
from screening.validation import check_upload

from .conftest import LEFT, RIGHT, image_upload, upload

pytestmark = pytest.mark.django_db


def _grey_16_bit_png(path=RIGHT) -> SimpleUploadedFile:
    """The photograph as a 16-bit greyscale PNG (as some fundus cameras export red-free images)."""
    levels = np.asarray(Image.open(path).convert("L"), dtype=np.uint16) * 257
    return image_upload(Image.fromarray(levels), "right.png", fmt="PNG")


def _mean_grey(image: Image.Image) -> float:
    return float(np.asarray(image.convert("L"), dtype=np.float64).mean())


def test_a_16_bit_greyscale_png_is_checked_and_stored_as_it_looks_not_white(owner, patient) -> None:
    expected = _mean_grey(Image.open(RIGHT))
    checked = check_upload(_grey_16_bit_png(), eye="right")
    # Pillow's convert("RGB") clips 16-bit values at 255: the photograph was checked (and graded) white.
    assert abs(_mean_grey(checked.image) - expected) < 1.0
    # Seen as it looks: a well-exposed field, refused only because it is not a colour photograph (white, it
    # was "Field of view cut off" and "Overexposed").
    assert quality.assess(checked.image).reasons == [quality.NOT_COLOUR]
    examination = services.examination_create(
        user=owner, patient=patient, right_eye=_grey_16_bit_png(), left_eye=upload(LEFT)
    )
    right = examination.images.get(side="right")
    assert right.format == "PNG" and right.quality["reasons"] == [quality.NOT_COLOUR]
    # The worker decodes the stored file: it must see the same pixels as the check did.
    assert abs(_mean_grey(bridge.open_eye_image(right)) - expected) < 1.0


def _mpo(path=RIGHT) -> SimpleUploadedFile:
    """A JPEG with a Multi-Picture segment (a second, smaller picture after the photograph), as phones and
    many cameras write it; Pillow calls it MPO."""
    photo = Image.open(path).convert("RGB")
    buffer = io.BytesIO()
    photo.save(buffer, "MPO", save_all=True, append_images=[photo.resize((64, 43))])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    return SimpleUploadedFile("IMG_0001.JPG", buffer.getvalue(), content_type="image/jpeg")


def test_a_jpeg_with_a_multi_picture_segment_is_accepted_as_a_jpeg(client, owner, patient) -> None:
    client.force_login(owner)
    url = reverse("screening:upload", kwargs={"patient_id": patient.pk})
    response = client.post(url, {"right_eye": _mpo(), "left_eye": upload(LEFT), "notes": ""})
    assert response.status_code == 302, response.context["form"].errors
    right = Examination.objects.get().images.get(side="right")
    assert right.format == "JPEG" and right.gradable
    image = client.get(reverse("screening:eye_image", args=[right.examination_id, "right"]))
    assert image["Content-Type"] == "image/jpeg"
    assert bridge.open_eye_image(right).size == (256, 171)


def _cut_out_on_white(path=RIGHT) -> Image.Image:
    """The photograph's round field kept, the rest made transparent over white pixels, as a cropping
    tool may export it: a viewer shows the round field and nothing around it."""
    photo = Image.open(path).convert("RGB")
    field = Image.new("L", photo.size, 0)
    w, h = photo.size
    ImageDraw.Draw(field).ellipse((w / 2 - h / 2 + 2, 2, w / 2 + h / 2 - 2, h - 2), fill=255)
    cut = Image.composite(photo, Image.new("RGB", photo.size, (255, 255, 255)), field).convert("RGBA")
    cut.putalpha(field)
    return cut


def test_a_png_with_a_transparent_surround_is_checked_and_graded_as_it_looks(owner, patient) -> None:
    right = image_upload(_cut_out_on_white(), "right.png", fmt="PNG")
    examination = services.examination_create(user=owner, patient=patient, right_eye=right, left_eye=upload(LEFT))
    eye = examination.images.get(side="right")
    # Before, convert("RGB") brought the white back: "Field of view cut off" and "Overexposed".
    assert eye.gradable, eye.quality["reasons"]
    stored = bridge.open_eye_image(eye)  # what the worker grades
    assert stored.getpixel((0, 0)) == (0, 0, 0) and stored.getpixel((eye.width - 1, eye.height // 2)) == (0, 0, 0)


def test_a_png_with_an_opaque_alpha_channel_is_stored_as_sent() -> None:
    # Nothing is hidden under an alpha of 255 everywhere: the photograph's own bytes are kept (and hashed).
    buffer = io.BytesIO()
    Image.open(RIGHT).convert("RGBA").save(buffer, "PNG")
    checked = check_upload(SimpleUploadedFile("right.png", buffer.getvalue()), eye="right")
    assert checked.content == buffer.getvalue()


@pytest.mark.parametrize("size", [(8, 8), (64, 64), (200, 134)])
def test_a_photograph_too_small_to_grade_is_ungradable_with_its_reason(owner, patient, size) -> None:
    # Before, a real photograph shrunk to 16 px was called gradable: its grade was shown as reliable.
    small = image_upload(Image.open(RIGHT).resize(size, Image.Resampling.LANCZOS), "right.jpg", quality=95)
    examination = services.examination_create(user=owner, patient=patient, right_eye=small, left_eye=upload(LEFT))
    right = examination.images.get(side="right")
    assert right.gradable is False
    assert right.quality["reasons"][0].startswith(f"Resolution too low: the photograph is {size[0]} x {size[1]}")
    assert examination.images.get(side="left").gradable  # 256 x 171: the smallest the check accepts


def _with_orientation(orientation: int, transpose: Image.Transpose) -> SimpleUploadedFile:
    """The photograph stored on its side, with the EXIF orientation that puts it upright again."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return image_upload(Image.open(RIGHT).transpose(transpose), "right.jpg", quality=95, exif=exif)


def _as(mode: str, fmt: str = "JPEG", **save: object):
    return lambda: image_upload(Image.open(RIGHT).convert(mode), f"right.{fmt.lower()}", fmt=fmt, **save)


# Each accepted, stored upright at the photograph's size, and gradable (the greyscale ones accepted but
# called ungradable: the model reads colour photographs).
GREYSCALE = {"greyscale jpeg", "greyscale png with alpha"}
ACCEPTED = {
    "cmyk jpeg": _as("CMYK"),
    "greyscale jpeg": _as("L"),
    "progressive jpeg": _as("RGB", progressive=True, quality=95),
    "png with alpha": _as("RGBA", "PNG"),
    "palette png": _as("P", "PNG"),
    "greyscale png with alpha": _as("LA", "PNG"),
    "exif orientation 6": lambda: _with_orientation(6, Image.Transpose.ROTATE_90),
    "exif orientation 8": lambda: _with_orientation(8, Image.Transpose.ROTATE_270),
    "jpeg named .png": lambda: upload(RIGHT, name="right.png", content_type="image/png"),
    "upper-case .JPG": lambda: upload(RIGHT, name="RIGHT EYE.JPG"),
    "unicode name": lambda: upload(RIGHT, name="œil droit 眼 \u202e.jpg"),
    "300-character name": lambda: upload(RIGHT, name="r" * 296 + ".jpg"),
    "bogus icc profile": _as("RGB", icc_profile=b"not a profile" * 50),
}


@pytest.mark.parametrize("case", ACCEPTED, ids=list(ACCEPTED))
def test_an_unusual_photograph_is_accepted_through_the_form(client, owner, patient, case: str) -> None:
    client.force_login(owner)
    url = reverse("screening:upload", kwargs={"patient_id": patient.pk})
    response = client.post(url, {"right_eye": ACCEPTED[case](), "left_eye": upload(LEFT), "notes": ""})
    assert response.status_code == 302, response.context["form"].errors
    right = EyeImage.objects.get(side="right")
    assert (right.width, right.height) == (256, 171)
    if case in GREYSCALE:
        assert right.quality["reasons"] == [quality.NOT_COLOUR]
    else:
        assert right.gradable, right.quality
    # Named by the photograph's hash (a suffix where the media folder holds it already), never by what the
    # user called the file.
    assert right.file.name.startswith(f"eyes/{right.sha256[:2]}/{right.sha256}")
    assert bridge.open_eye_image(right).size == (256, 171)
